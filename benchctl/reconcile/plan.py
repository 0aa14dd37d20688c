"""The plan: the actions that take the actual state to the desired one, and why each is needed.

``diff`` is pure: it sees only the two states, so every rule here is unit-testable without a
database or a proxy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from benchctl import __version__
from benchctl.errors import PlanError
from benchctl.reconcile.actual import ActualSession, ActualState
from benchctl.reconcile.desired import (
    VERSIONED,
    DesiredObject,
    DesiredSession,
    DesiredState,
    Kind,
    digest,
    flatten,
    key_alias,
)
from benchctl.reconcile.forecast import Forecast

FORMAT_VERSION = 1

ActionType = Literal[
    "create",  # + a new object (version 1, or the next after a retired one)
    "update",  # ~ in place: no sessions would see a different benchmark
    "replace",  # -/+ a new version; the old one is retired and keeps its sessions
    "retire",  # - gone from the manifests; rows stay, marked retired
    "open",  # + session: row, key, env file
    "finalize",  # ~ session: end time, outcome, key deleted
    "abort",  # - session: key deleted, no outcome
    "update_session",  # ~ session notes or outcome of a finished session
    "rekey",  # ! drift: the session's key was deleted, blocked or expired behind our back
    "delete_key",  # - drift: a key with our alias prefix that no live session accounts for
]

SYMBOLS: dict[str, str] = {
    "create": "+",
    "update": "~",
    "replace": "-/+",
    "retire": "-",
    "open": "+",
    "finalize": "~",
    "abort": "-",
    "update_session": "~",
    "rekey": "!",
    "delete_key": "-",
}


class Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action: ActionType
    kind: Kind | Literal["Session", "Key"]
    name: str
    reason: str
    # Fields that differ (update, replace), and of those the ones that force a new version.
    changes: list[str] = Field(default_factory=list)
    forced_by: list[str] = Field(default_factory=list)
    version: int | None = None
    # Sessions: what the row will reference; keys: which one (alias and hash, never the key).
    session_id: str | None = None
    variant_version: int | None = None
    task_card_version: int | None = None
    key_alias: str | None = None
    key_token: str | None = None
    # A verified outcome: the verification the plan checked it against.
    verification_id: int | None = None
    resume: bool = False
    # What a reviewer must not miss: a credential going to a new host (docs/security.md).
    sensitive: list[str] = Field(default_factory=list)

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.action]


class Summary(BaseModel):
    model_config = ConfigDict(frozen=True)

    add: int = 0
    change: int = 0
    retire: int = 0
    open: int = 0
    finalize: int = 0
    abort: int = 0
    repair: int = 0

    @property
    def changes(self) -> bool:
        return any(self.model_dump().values())


class ConfigDrift(BaseModel):
    """The running proxy's config differs from the one the manifests render.

    Advice, not an action: the plan's fingerprint and actions ignore it, since benchctl does not
    restart proxies. Sessions of a variant the proxy lacks, or serves differently, would be
    refused or would measure something other than the manifests say.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # "local-stack": fingerprint recorded by `benchctl up`; "proxy": the proxy's /model/info.
    source: Literal["local-stack", "proxy"]
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    changed: list[str] = Field(default_factory=list)
    # The variants are the same, but settings around them (callbacks, batch interval...) differ.
    settings_changed: bool = False
    fix: str


# litellm_params /model/info cannot be compared on: credentials are left out, and the
# api_base a deployment uses may differ from the manifest's on purpose (`--api-base`).
UNCOMPARED_PARAMS = frozenset({"api_key", "api_base"})


def config_drift(
    rendered: list[dict[str, Any]],
    running: list[dict[str, Any]],
    *,
    source: Literal["local-stack", "proxy"],
    fix: str,
    settings_changed: bool = False,
) -> ConfigDrift | None:
    """Compare model lists by alias (``model_name``).

    From the local stack, ``running`` is the exact config the proxy was started with, so whole
    entries are compared. From ``/model/info``, the proxy adds defaults and masks values, so
    only the ``litellm_params`` the manifests set are compared, minus UNCOMPARED_PARAMS.
    """
    want = {str(m["model_name"]): m for m in rendered}
    have = {str(m.get("model_name")): m for m in running}
    changed = []
    for alias in sorted(want.keys() & have.keys()):
        if source == "local-stack":
            differs = want[alias] != have[alias]
        else:
            params = want[alias].get("litellm_params") or {}
            live = have[alias].get("litellm_params") or {}
            differs = any(
                live.get(name) != value
                for name, value in params.items()
                if name not in UNCOMPARED_PARAMS
                and not (isinstance(live.get(name), str) and "*" in str(live.get(name)))
            )
        if differs:
            changed.append(alias)
    drift = ConfigDrift(
        source=source,
        added=sorted(want.keys() - have.keys()),
        removed=sorted(have.keys() - want.keys()),
        changed=changed,
        settings_changed=settings_changed,
        fix=fix,
    )
    if drift.added or drift.removed or drift.changed or drift.settings_changed:
        return drift
    return None


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: int = FORMAT_VERSION
    benchctl_version: str = __version__
    created_at: datetime
    lineage: str
    serial: int
    # False when no proxy was configured, so key drift went unchecked.
    keys_checked: bool
    desired: DesiredState
    actions: list[Action]
    summary: Summary
    warnings: list[str] = Field(default_factory=list)
    # Not in the fingerprint: a restarted proxy must not make a reviewed plan stale.
    config_drift: ConfigDrift | None = None
    # Advice too: what the sessions it opens should cost and can tell apart.
    forecast: Forecast | None = None

    @property
    def fingerprint(self) -> str:
        """Identifies what the plan would do, from which state, with which manifests: editing
        a saved plan file (its actions or its manifests) changes it."""
        return digest(
            {
                "lineage": self.lineage,
                "serial": self.serial,
                "desired": self.desired.model_dump(mode="json"),
                "actions": [a.model_dump(mode="json") for a in self.actions],
            }
        )


def summarize(actions: list[Action]) -> Summary:
    counts = dict.fromkeys(Summary.model_fields, 0)
    for a in actions:
        if a.action == "create":
            counts["add"] += 1
        elif a.action == "replace":
            counts["add"] += 1
            counts["retire"] += 1
        elif a.action in ("update", "update_session"):
            counts["change"] += 1
        elif a.action == "retire":
            counts["retire"] += 1
        elif a.action in ("open", "finalize", "abort"):
            counts[a.action] += 1
        else:
            counts["repair"] += 1
    return Summary(**counts)


def diff(desired: DesiredState, actual: ActualState, *, now: datetime | None = None) -> Plan:
    now = now or datetime.now(UTC)
    actions = _objects(desired, actual)
    versions: dict[tuple[str, str], int] = {
        (a.kind, a.name): a.version or 1 for a in actions if a.action in ("create", "replace")
    }
    for (kind, name), obj in actual.objects.items():
        versions.setdefault((kind, name), obj.version)
    sessions = _sessions(desired, actual, versions)
    actions += sessions
    actions += _drift(actual, now, skip={a.session_id for a in sessions})
    warnings = []
    if actual.keys is None and (desired.sessions or any(s.live for s in actual.sessions.values())):
        warnings.append(
            "no LiteLLM proxy configured (BENCHCTL_PROXY_URL): session keys were not checked for"
            " drift, and sessions cannot be opened or finalized until one is."
        )
    return Plan(
        created_at=now,
        lineage=actual.lineage,
        serial=actual.serial,
        keys_checked=actual.keys is not None,
        desired=desired,
        actions=actions,
        summary=summarize(actions),
        warnings=warnings,
    )


# Provider fields that decide which credential LiteLLM sends where.
CREDENTIAL_ROUTE = ("spec.api_base", "spec.api_key_env", "spec.route")


def _credential_route(document: dict[str, Any]) -> str:
    spec = document.get("spec", {})
    key = spec.get("api_key_env")
    base = spec.get("api_base") or f"LiteLLM's default endpoint for {spec.get('route')}"
    return f"{'$' + key if key else 'no credential'} is sent to {base}"


def _sensitive(obj: DesiredObject, before: dict[str, Any] | None) -> list[str]:
    """A provider whose credential goes somewhere it did not go before."""
    if obj.kind != "Provider":
        return []
    keys = [doc.get("spec", {}).get("api_key_env") for doc in (obj.document, before or {})]
    if not any(keys):
        return []  # no credential is sent (the simulator), wherever the calls go
    now = _credential_route(obj.document)
    if before is None:
        return [f"new provider: {now}"]
    old = flatten(before, "")
    new = flatten(obj.document, "")
    if any(old.get(f".{field}") != new.get(f".{field}") for field in CREDENTIAL_ROUTE):
        return [f"credential route changes: {now} (was: {_credential_route(before)})"]
    return []


def _objects(desired: DesiredState, actual: ActualState) -> list[Action]:
    actions: list[Action] = []
    wanted = {(o.kind, o.name) for o in desired.objects}
    for obj in desired.objects:
        have = actual.objects.get((obj.kind, obj.name))
        if have is None or have.retired:
            version = 1 if have is None else have.version + 1
            reason = "new" if have is None else "back after being retired; history is kept"
            actions.append(
                Action(
                    action="create",
                    kind=obj.kind,
                    name=obj.name,
                    reason=reason,
                    version=version,
                    sensitive=_sensitive(obj, None),
                )
            )
            continue
        # A variant's comparability also hangs on its provider and harness profile, which its
        # own document does not contain: compare both.
        if have.content_hash == obj.content_hash and have.comparable == obj.comparable:
            continue
        changed = _differing(obj.comparable, have.comparable)
        fields = _differing(flatten(obj.document, ""), flatten(have.document, ""))
        if changed and obj.kind in VERSIONED and have.sessions:
            if have.live_sessions:
                raise PlanError(
                    f"{obj.kind} {obj.name}: {', '.join(changed)} changed while"
                    f" {have.live_sessions} of its sessions are still open; the change would make"
                    " them measure something else. Finalize or abort those sessions first, or"
                    f" make the change in a new {_KIND_WORDS[obj.kind]}."
                )
            actions.append(
                Action(
                    action="replace",
                    kind=obj.kind,
                    name=obj.name,
                    reason=f"{', '.join(changed)} changed and version {have.version} has"
                    f" {have.sessions} session(s): a new version keeps them comparable",
                    changes=fields,
                    forced_by=changed,
                    version=have.version + 1,
                )
            )
        else:
            if obj.kind not in VERSIONED:
                reason = "updated in place (only variants and task cards are versioned)"
            elif changed:
                reason = "no sessions yet, so even comparability fields change in place"
            else:
                reason = "cosmetic fields only (description, labels, title...)"
            actions.append(
                Action(
                    action="update",
                    kind=obj.kind,
                    name=obj.name,
                    reason=reason,
                    changes=fields,
                    version=have.version,
                    sensitive=_sensitive(obj, have.document),
                )
            )
    for (kind, name), have in sorted(actual.objects.items()):
        if (kind, name) not in wanted and not have.retired:
            history = f"{have.sessions} session(s) keep it" if have.sessions else "no sessions"
            actions.append(
                Action(
                    action="retire",
                    kind=kind,
                    name=name,
                    version=have.version,
                    reason=f"removed from the manifests; retired, not deleted ({history})",
                )
            )
    return actions


def _differing(new: dict[str, Any], old: dict[str, Any]) -> list[str]:
    return sorted(
        key.lstrip(".") for key in new.keys() | old.keys() if new.get(key) != old.get(key)
    )


def _open(
    entry: DesiredSession, versions: dict[tuple[str, str], int], lineage: str, resume: bool
) -> Action:
    reason = (
        "resuming an apply that stopped before the key was recorded"
        if resume
        else "headless grid: for `benchctl run`"
        if entry.headless
        else "new session entry"
    )
    return _for(
        entry,
        lineage,
        "open",
        reason,
        variant_version=versions[("Variant", entry.variant)],
        task_card_version=versions[("TaskCard", entry.task_card)],
        resume=resume,
    )


def _for(
    entry: DesiredSession, lineage: str, action: ActionType, reason: str, **extra: object
) -> Action:
    return Action.model_validate(
        {
            "action": action,
            "kind": "Session",
            "name": entry.label,
            "reason": reason,
            "session_id": entry.id,
            "key_alias": key_alias(entry.id, lineage),
            **extra,
        }
    )


def _check_verified(entry: DesiredSession, have: ActualSession) -> None:
    """An entry claiming a verified outcome must say what the verifier measured (Invariant 10:
    measured, not typed). The latest scored verification is the one that counts."""
    if entry.source != "verified":
        return
    recorded = have.outcome_source == "verified" and have.outcome == entry.outcome
    if have.status == "finalized" and recorded:
        return  # a verification made after the session ended does not rewrite it
    if have.verified_outcome is None:
        raise PlanError(
            f"session {entry.label} claims a verified outcome, but no verifier has scored it:"
            f" run `benchctl session verify {entry.id[:8]} --workspace DIR`, or set"
            " outcome_source: self-reported."
        )
    if have.verified_outcome != entry.outcome:
        raise PlanError(
            f"session {entry.label} claims the verified outcome {entry.outcome}, but its"
            f" verifier measured {have.verified_outcome} (reward {have.verified_reward:g}):"
            f" set outcome: {have.verified_outcome}, or outcome_source: self-reported."
        )


_KIND_WORDS = {"TaskCard": "task card", "Variant": "variant"}


def _session_action(
    entry: DesiredSession,
    have: ActualSession | None,
    versions: dict[tuple[str, str], int],
    lineage: str,
) -> Action | None:
    if have is not None:
        _check_verified(entry, have)
    if have is None:
        if entry.status == "open":
            return _open(entry, versions, lineage, resume=False)
        if entry.status == "finalized":
            raise PlanError(
                f"session {entry.label} is marked finalized but was never opened; set its status"
                " to open first, apply, run it, then finalize it."
            )
        return None  # aborted before it ever opened: nothing to do or record
    # An apply stopped half-way: finish what it started, whatever the entry says now.
    if have.status == "opening" and entry.status == "open":
        return _open(entry, versions, lineage, resume=True)
    verified = have.verified_id if entry.source == "verified" else None
    if have.status == "finalizing":
        return _for(
            entry, lineage, "finalize", f"resuming: outcome {have.outcome}", resume=True,
            verification_id=verified,
        )  # fmt: skip
    if have.status == "aborting":
        return _for(entry, lineage, "abort", "resuming an interrupted abort", resume=True)
    if have.status in ("finalized", "aborted") and entry.headless:
        return None  # `benchctl run` ended it: the grid asks for nothing more
    if have.status in ("finalized", "aborted"):
        if entry.status != have.status:
            raise PlanError(
                f"session {entry.label} is already {have.status} and cannot become"
                f" {entry.status}. To run it again, add a new replicate (raise spec.replicates"
                " if needed)."
            )
        changed = [f for f in ("outcome", "notes") if getattr(entry, f) != getattr(have, f)]
        if have.status == "finalized" and entry.source != (have.outcome_source or None):
            changed.append("outcome_source")
        if changed:
            rechecked = entry.source == "verified" and {"outcome", "outcome_source"} & set(changed)
            return _for(
                entry, lineage, "update_session", "edited after the session ended",
                changes=changed, verification_id=have.verified_id if rechecked else None,
            )  # fmt: skip
        return None
    if entry.status == "finalized":
        return _for(
            entry, lineage, "finalize", f"outcome {entry.outcome} ({entry.source})",
            verification_id=verified,
        )  # fmt: skip
    if entry.status == "aborted":
        return _for(entry, lineage, "abort", "entry marked aborted")
    if have.status == "opening":  # the entry no longer wants it open: undo the half-open
        return _for(entry, lineage, "abort", "an interrupted open is no longer wanted")
    if entry.notes != have.notes:
        return _for(entry, lineage, "update_session", "notes edited", changes=["notes"])
    return None


def _sessions(
    desired: DesiredState, actual: ActualState, versions: dict[tuple[str, str], int]
) -> list[Action]:
    actions = []
    wanted = set()
    for entry in desired.sessions:
        wanted.add(entry.id)
        action = _session_action(entry, actual.sessions.get(entry.id), versions, actual.lineage)
        if action:
            actions.append(action)
    for session in actual.sessions.values():
        if session.live and session.id not in wanted:
            actions.append(
                Action(
                    action="abort",
                    kind="Session",
                    name=session.label,
                    session_id=session.id,
                    key_alias=session.key_alias,
                    reason="its entry was removed from the experiment; the row is kept",
                )
            )
    return actions


def _drift(actual: ActualState, now: datetime, skip: set[str | None]) -> list[Action]:
    if actual.keys is None:
        return []
    actions = []
    for session in actual.sessions.values():
        if session.status != "open" or session.id in skip:
            continue
        key = actual.keys.get(session.key_alias)
        if session.key_hash is None:
            problem = "an interrupted re-key left no recorded key"
        elif key is None:
            problem = "its key was deleted outside benchctl"
        elif key.token is not None and key.token != session.key_hash:
            # The proxy's bulk info leaves hashes out; when it has one, it must be ours.
            problem = "its key was replaced outside benchctl"
        elif key.blocked:
            problem = "its key was blocked outside benchctl"
        elif key.expires is not None and key.expires <= now:
            problem = f"its key expired at {key.expires:%Y-%m-%d %H:%M} UTC"
        else:
            continue
        actions.append(
            Action(
                action="rekey",
                kind="Session",
                name=session.label,
                session_id=session.id,
                key_alias=session.key_alias,
                variant_version=session.variant_version,
                task_card_version=session.task_card_version,
                reason=f"{problem}; a new key replaces it",
            )
        )
    for key in actual.orphan_keys:
        actions.append(
            Action(
                action="delete_key",
                kind="Key",
                name=key.key_alias or key.token or "(no alias)",
                key_alias=key.key_alias,
                key_token=key.token,
                reason="has benchctl's alias prefix but no live session accounts for it",
            )
        )
    return actions
