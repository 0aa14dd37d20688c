"""The operator's session commands: find, list, re-render the env snippet, rotate the key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchctl.db.connection import Connection, connect
from benchctl.db.queries import query
from benchctl.errors import UsageError
from benchctl.litellm.client import LiteLLMClient
from benchctl.reconcile.engine import proxy_client
from benchctl.reconcile.envfile import (
    SessionInfo,
    SessionManifests,
    env_path,
    key_from_file,
    render_session,
    snippet,
)
from benchctl.reconcile.keys import IssuedKey, KeyRequest, issue_key
from benchctl.reconcile.lock import state_lock
from benchctl.settings import Settings

MIN_PREFIX = 4


def list_sessions(
    settings: Settings, *, experiment: str | None, status: str | None
) -> list[dict[str, Any]]:
    with connect(settings, upgrade=False) as conn:
        params = {"experiment": experiment, "status": status, "prefix": None}
        return conn.execute(query("sessions.list"), params).fetchall()


def find(conn: Connection, prefix: str) -> dict[str, Any]:
    """The session whose id starts with ``prefix`` (at least 4 characters, like git)."""
    if len(prefix) < MIN_PREFIX:
        raise UsageError(f"session id {prefix!r} is too short; give at least {MIN_PREFIX} chars.")
    params = {"experiment": None, "status": None, "prefix": prefix.lower()}
    rows = conn.execute(query("sessions.list"), params).fetchall()
    if not rows:
        raise UsageError(f"no session id starts with {prefix!r}; see `benchctl session list`.")
    if len(rows) > 1:
        raise UsageError(f"session id {prefix!r} is ambiguous; give more characters.")
    return rows[0]


def show(settings: Settings, prefix: str) -> dict[str, Any]:
    with connect(settings, upgrade=False) as conn:
        return find(conn, prefix)


def session_manifests(conn: Connection, session_id: str) -> SessionManifests:
    row = conn.execute(query("sessions.documents"), {"id": session_id}).fetchone()
    assert row is not None
    return SessionManifests.from_documents(row)


def session_info(row: dict[str, Any]) -> SessionInfo:
    return SessionInfo(row["id"], row["key_alias"], row["experiment"], row["replicate"])


def env_snippet(settings: Settings, prefix: str) -> str:
    """The session's env snippet rendered again from its manifests and its key."""
    with connect(settings, upgrade=False) as conn:
        row = find(conn, prefix)
        if row["status"] != "open":
            raise UsageError(
                f"session {row['id']} is {row['status']}; only an open session has a key."
            )
        path = env_path(settings.sessions_dir, row["id"])
        key = key_from_file(path, row["key_hash"])
        if key is None:
            raise UsageError(
                f"the raw key of session {row['id']} is gone (benchctl keeps it only in {path},"
                " which is missing or holds an older key). Issue a new one with"
                f" `benchctl session rotate {row['id'][:8]}`."
            )
        if settings.proxy_url is None:
            raise UsageError("set BENCHCTL_PROXY_URL: the snippet points the harness at it.")
        manifests = session_manifests(conn, row["id"])
        rendered = render_session(
            session_info(row),
            manifests,
            key=key,
            proxy_url=settings.session_proxy_url(row["id"]),
            env_file=path,
        )
        return snippet(session_info(row), manifests, rendered)


@dataclass(frozen=True)
class Rotated:
    session_id: str
    issued: IssuedKey


def reissue_key(
    conn: Connection, client: LiteLLMClient, settings: Settings, row: dict[str, Any], step: str
) -> IssuedKey:
    """A new key for an open session, the old one deleted first: from the moment the old hash
    is forgotten until the new one is recorded, a plan sees a session to re-key."""
    conn.execute(query("sessions.forget_key"), {"id": row["id"]})
    client.delete_keys(aliases=[row["key_alias"]])
    request = KeyRequest(
        session=session_info(row),
        variant_version=row["variant_version"],
        task_card_version=row["task_card_version"],
        ttl_seconds=row["ttl_seconds"],
        budget_usd=row["budget_usd"],
    )
    return issue_key(conn, client, settings, request, session_manifests(conn, row["id"]), step)


def rotate(settings: Settings, prefix: str, lock_timeout: float) -> Rotated:
    """Replace an open session's key: the old one stops working at once."""
    with (
        connect(settings, upgrade=True) as conn,
        proxy_client(settings) as client,
        state_lock(conn, "session rotate", lock_timeout),
    ):
        row = find(conn, prefix)
        if row["status"] != "open":
            raise UsageError(f"session {row['id']} is {row['status']}; only open sessions rotate.")
        if client is None:
            raise UsageError("set BENCHCTL_PROXY_URL and BENCHCTL_PROXY_MASTER_KEY to rotate.")
        issued = reissue_key(conn, client, settings, row, "rotate")
        conn.execute(query("state.bump_serial"))
        return Rotated(row["id"], issued)


def record_account(settings: Settings, prefix: str, output: Path) -> dict[str, Any]:
    """Read the harness's own account of the session from its saved output, as the session's
    harness profile declares, and record it beside the session's cost ledger."""
    from benchctl.collect.account import MAX_OUTPUT_BYTES, read_account
    from benchctl.manifests.models import HarnessProfile

    try:
        if output.stat().st_size > MAX_OUTPUT_BYTES:
            raise UsageError(f"{output} is larger than {MAX_OUTPUT_BYTES // 2**20} MiB.")
        text = output.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read {output}: {exc.strerror}.") from None
    with connect(settings, upgrade=True) as conn:
        row = find(conn, prefix)
        found = conn.execute(
            query("sessions.harness_profile"), {"name": row["harness_profile"]}
        ).fetchone()
        assert found is not None  # a session's profile is never deleted
        profile = HarnessProfile.model_validate(found["spec"])
        if profile.spec.account is None:
            raise UsageError(
                f"harness profile {row['harness_profile']} declares no `account`: benchctl"
                " does not know where its output reports cost."
            )
        account = read_account(profile.spec.account, text)
        conn.execute(
            query("sessions.record_account"),
            {
                "session_id": row["id"],
                "cost_usd": account.cost_usd,
                "input_tokens": account.input_tokens,
                "output_tokens": account.output_tokens,
                "source": output.name,
            },
        )
        ledger = conn.execute(query("sessions.ledger"), {"id": row["id"]}).fetchone()
        return {"session": row["id"], **(ledger or {})}
