"""What the CLI calls: plan and apply as whole operations, with no terminal in sight."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from benchctl.db.connection import Connection, connect
from benchctl.errors import (
    PlanError,
    ProxyAuthError,
    ProxyError,
    ProxyUnavailable,
    StalePlanError,
    UsageError,
)
from benchctl.litellm.client import LiteLLMClient
from benchctl.litellm.config import config_fingerprint, render_config
from benchctl.manifests.catalog import Repository
from benchctl.manifests.loader import load_valid_repository
from benchctl.reconcile.actual import read_database, read_keys
from benchctl.reconcile.apply import Applier, ApplyResult
from benchctl.reconcile.desired import DesiredState, desired_state, revalidate
from benchctl.reconcile.forecast import forecast
from benchctl.reconcile.lock import state_lock
from benchctl.reconcile.plan import FORMAT_VERSION, Action, Plan, config_drift, diff
from benchctl.reconcile.provenance import manifest_commit
from benchctl.settings import Settings, redact_dsn
from benchctl.stack.parts import proxy_config
from benchctl.stack.state import load_state


def load_manifests(root: Path) -> tuple[Repository, DesiredState]:
    """The valid repository (to render the proxy config from) and its desired state."""
    repository = load_valid_repository(root)
    commit, dirty = manifest_commit(root)
    desired = desired_state(repository, manifest_commit=commit, manifest_dirty=dirty)
    return repository, desired


def load_desired(root: Path) -> DesiredState:
    return load_manifests(root)[1]


@contextmanager
def proxy_client(settings: Settings) -> Iterator[LiteLLMClient | None]:
    if settings.proxy_url is None:
        yield None
        return
    if not settings.proxy_master_key:
        raise ProxyError(
            f"BENCHCTL_PROXY_URL is set ({redact_dsn(settings.proxy_url)}) but no master key"
            " is: set BENCHCTL_PROXY_MASTER_KEY (or LITELLM_MASTER_KEY) to the proxy's master key."
        )
    with LiteLLMClient(settings.proxy_url, settings.proxy_master_key) as client:
        yield client


def _plan(conn: Connection, client: LiteLLMClient | None, desired: DesiredState) -> Plan:
    actual = read_database(conn)
    if client is not None:
        read_keys(actual, client)
    plan = diff(desired, actual)
    opening = {a.session_id or "" for a in plan.actions if a.action == "open" and not a.resume}
    plan.forecast = forecast(conn, desired, opening)
    return plan


def make_plan(settings: Settings) -> Plan:
    """Read-only: nothing is locked, and only the embedded database is ever migrated."""
    repository, desired = load_manifests(settings.root)
    with connect(settings, upgrade=False) as conn, proxy_client(settings) as client:
        plan = _plan(conn, client, desired)
        _add_config_drift(plan, settings, repository, client)
        return plan


_LOCAL_FIX = "run `benchctl up --restart-proxy` to restart the local proxy with the new config"
_DEPLOYMENT_FIX = (
    "render the config again (`benchctl render litellm-config`) and restart your LiteLLM"
    " deployment with it"
)


def _add_config_drift(
    plan: Plan, settings: Settings, repository: Repository, client: LiteLLMClient | None
) -> None:
    """Tell when the proxy runs another config than the manifests render (one request at
    most: the local stack's recorded fingerprint needs none)."""
    state = load_state(settings.state_dir)
    local = state.parts.get("proxy")
    if local is not None and local.url == settings.proxy_url and local.config_fingerprint:
        rendered = proxy_config(repository, state)
        if config_fingerprint(rendered) == local.config_fingerprint:
            return
        started = _config_file(local.config_path)
        plan.config_drift = config_drift(
            rendered["model_list"],
            started.get("model_list") or [],
            source="local-stack",
            fix=_LOCAL_FIX,
            settings_changed=_without_models(rendered) != _without_models(started),
        )
        return
    if client is None:
        return
    try:
        running = client.model_info()
    except ProxyError as exc:
        if isinstance(exc, ProxyUnavailable | ProxyAuthError):
            raise
        plan.warnings.append(
            f"could not compare the proxy's models with the manifests ({exc}); config drift"
            " was not checked."
        )
        return
    rendered = render_config(repository)
    plan.config_drift = config_drift(
        rendered["model_list"], running, source="proxy", fix=_DEPLOYMENT_FIX
    )


def _config_file(path: str | None) -> dict[str, Any]:
    """The config a local proxy was started with; empty if it is gone or unreadable."""
    if path is None:
        return {}
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _without_models(config: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in config.items() if name != "model_list"}


# Far above any real plan (one with 10,000 objects is a few MB), far below what hurts.
MAX_PLAN_BYTES = 64 * 1024 * 1024


def read_saved_plan(path: Path, files_root: Path) -> Plan:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read plan file {path}: {exc.strerror}.") from None
    try:
        # A plan file is small JSON; anything else (a binary, a nesting bomb) is not a plan.
        if len(raw) > MAX_PLAN_BYTES:
            raise ValueError(f"it is {len(raw):,} bytes, more than a plan's {MAX_PLAN_BYTES:,}")
        payload = json.loads(raw.decode("utf-8"))
        if not isinstance(payload, dict):
            raise ValueError("it is not a JSON object")
        # Derived fields the JSON rendering adds for readers; recomputed, not trusted.
        if payload.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version {payload.get('format_version')!r} is not supported")
        fingerprint = payload.pop("fingerprint", None)
        payload.get("summary", {}).pop("line", None)
        plan = Plan.model_validate(payload)
    except (ValueError, AttributeError, RecursionError) as exc:
        if isinstance(exc, ValidationError):
            reason = exc.errors()[0]["msg"]
        elif isinstance(exc, UnicodeDecodeError):
            reason = "it is not UTF-8 text"
        elif isinstance(exc, RecursionError):
            reason = "its JSON nests too deeply"
        else:
            reason = str(exc)
        raise UsageError(
            f"{path} is not a benchctl plan (format_version {FORMAT_VERSION}): {reason}."
            f" Save one with `benchctl plan --out {path}`."
        ) from None
    if fingerprint != plan.fingerprint:
        raise UsageError(
            f"{path} was edited after `benchctl plan` saved it (its fingerprint does not match"
            " its content); save a new plan instead of editing one."
        )
    problems = revalidate(plan.desired, files_root)
    if problems:
        raise PlanError(
            f"{path} holds manifests that do not validate, so nothing was applied: "
            + "; ".join(problems[:5])
            + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            + ". Save a new plan from valid manifests with `benchctl plan --out FILE`."
        )
    return plan


@dataclass(frozen=True)
class ApplyRequest:
    settings: Settings
    plan_file: Path | None
    lock_timeout: float
    # Shown the fresh plan; returns whether to go ahead (ignored for a saved plan).
    confirm: Callable[[Plan], bool]
    on_action: Callable[[Action], None]


@dataclass(frozen=True)
class ApplyOutcome:
    plan: Plan
    applied: bool
    result: ApplyResult | None


def apply(request: ApplyRequest) -> ApplyOutcome:
    settings = request.settings
    saved = read_saved_plan(request.plan_file, request.settings.root) if request.plan_file else None
    # A saved plan carries the drift found when it was made; the manifests may have moved on.
    repository, desired = (None, saved.desired) if saved else load_manifests(settings.root)
    with (
        connect(settings, upgrade=True) as conn,
        proxy_client(settings) as client,
        state_lock(conn, "apply", request.lock_timeout),
    ):
        plan = _plan(conn, client, desired)
        if repository is not None:
            _add_config_drift(plan, settings, repository, client)
        if saved is not None:
            _check_current(saved, plan)
        applier = Applier(conn, client, settings, plan, on_action=request.on_action)
        if not plan.summary.changes:
            return ApplyOutcome(plan, applied=False, result=None)
        applier.check()  # before asking: a plan that cannot run is not worth a "yes"
        if saved is None and not request.confirm(plan):
            return ApplyOutcome(plan, applied=False, result=None)
        result = applier.run()
        return ApplyOutcome(plan, applied=True, result=result)


def _check_current(saved: Plan, fresh: Plan) -> None:
    if saved.lineage != fresh.lineage:
        raise StalePlanError(
            "the saved plan was made against another benchmark database (its lineage differs);"
            " plan against this one."
        )
    if saved.serial != fresh.serial:
        raise StalePlanError(
            f"the saved plan was made at state serial {saved.serial}, and the state is now at"
            f" {fresh.serial} (another apply ran since). Run `benchctl plan --out FILE` again"
            " and review the new plan."
        )
    if [a.model_dump() for a in saved.actions] != [a.model_dump() for a in fresh.actions]:
        raise StalePlanError(
            "the saved plan no longer matches the state: keys or sessions changed outside"
            " benchctl since it was made. Run `benchctl plan --out FILE` again and review it."
        )
