"""The actual state: what the benchmark database holds and which session keys the proxy has.

Read in bulk: three database queries and at most two proxy requests in the usual case (a third,
paged, only when keys with benchctl's alias prefix exist that no session accounts for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from benchctl.db.connection import Connection
from benchctl.db.queries import query
from benchctl.litellm.client import KeyInfo, LiteLLMClient
from benchctl.reconcile.desired import alias_prefix, session_label

# Session states a killed apply leaves behind, and the open state: all have (or may have) a key.
LIVE = frozenset({"opening", "open", "finalizing", "aborting"})


@dataclass(frozen=True)
class ActualObject:
    kind: str
    name: str
    version: int
    content_hash: str
    comparable: dict[str, Any]
    document: dict[str, Any]
    retired: bool
    sessions: int
    live_sessions: int


@dataclass(frozen=True)
class ActualSession:
    id: str
    experiment: str
    variant: str
    variant_version: int
    task_card: str
    task_card_version: int
    harness_profile: str
    replicate: int
    status: str
    outcome: str | None
    outcome_source: str | None
    notes: str
    key_alias: str
    key_hash: str | None
    key_expires_at: datetime | None
    opened_at: datetime | None
    ended_at: datetime | None
    verified_outcome: str | None = None
    verified_reward: float | None = None
    verified_id: int | None = None

    @property
    def live(self) -> bool:
        return self.status in LIVE

    @property
    def label(self) -> str:
        return session_label(self.experiment, self.variant, self.task_card, self.replicate)


@dataclass
class ActualState:
    serial: int
    lineage: str
    objects: dict[tuple[str, str], ActualObject]
    sessions: dict[str, ActualSession]
    # None when no proxy is configured: key drift is then unknown, not absent.
    keys: dict[str, KeyInfo] | None = None
    orphan_keys: list[KeyInfo] = field(default_factory=list)


def read_database(conn: Connection) -> ActualState:
    meta = conn.execute(query("state.meta")).fetchone()
    assert meta is not None  # the first migration inserts the row
    objects = {
        (row["kind"], row["name"]): ActualObject(**row)
        for row in conn.execute(query("state.objects")).fetchall()
    }
    sessions = {
        row["id"]: ActualSession(**row) for row in conn.execute(query("state.sessions")).fetchall()
    }
    return ActualState(
        serial=meta["serial"], lineage=meta["lineage"], objects=objects, sessions=sessions
    )


def read_keys(state: ActualState, client: LiteLLMClient) -> None:
    """Fill in the proxy's view of every live session's key, and keys no session accounts for."""
    live = [s.key_alias for s in state.sessions.values() if s.live]
    found = client.keys_info(aliases=live)
    state.keys = {k.key_alias: k for k in found if k.key_alias}
    prefix = alias_prefix(state.lineage)
    if client.count_keys(alias_prefix=prefix) > len(state.keys):
        state.orphan_keys = sorted(
            (k for k in client.list_keys(alias_prefix=prefix) if k.key_alias not in state.keys),
            key=lambda k: (k.key_alias or "", k.token or ""),
        )
