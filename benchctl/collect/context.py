"""What normalization needs from the benchmark database, read in a constant number of queries:
sessions by key hash and key alias, prices per variant version, content capture per experiment,
the keys of abandoned headless attempts.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from benchctl.db.connection import Connection
from benchctl.db.queries import query
from benchctl.manifests.models.common import duration_seconds
from benchctl.manifests.models.experiment import ContentCapture
from benchctl.manifests.models.provider import Prices
from benchctl.reconcile.desired import alias_prefix


@dataclass(frozen=True)
class CapturePolicy:
    """An experiment's content capture, compiled: only experiments that enable it have one."""

    redact: tuple[re.Pattern[str], ...]
    retention: timedelta


@dataclass(frozen=True)
class SessionRef:
    id: uuid.UUID
    experiment: str
    variant: str
    variant_version: int
    task_card: str
    task_card_version: int
    key_alias: str
    status: str
    opened_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True)
class Context:
    by_hash: Mapping[str, SessionRef]
    by_alias: Mapping[str, SessionRef]
    # This database's key aliases start with it; other `benchctl-` keys are another database's.
    alias_prefix: str
    prices: Mapping[tuple[str, int], Prices | None]
    latest_version: Mapping[str, int]
    capture: Mapping[str, CapturePolicy]
    # Sessions whose rows are loaded; None: every session.
    selected: frozenset[uuid.UUID] | None = None
    sessions: tuple[SessionRef, ...] = field(default=())
    # Re-cost rows collected before with other prices (`collect --recost`); else they keep theirs.
    recost: bool = False
    # Keys of headless attempts that will never be scored, by hash: (session, attempt).
    abandoned: Mapping[str, tuple[uuid.UUID, int]] = field(default_factory=dict)

    def price_of(self, model_group: str | None, session: SessionRef) -> Prices | None:
        """Prices of the variant a row asked for: the session's own version when it asked for
        its variant (always, unless the proxy refused the model), else that variant's latest."""
        if model_group is None or model_group == session.variant:
            return self.prices.get((session.variant, session.variant_version))
        version = self.latest_version.get(model_group)
        return None if version is None else self.prices.get((model_group, version))


def load_context(conn: Connection, *, selected: Collection[uuid.UUID] | None = None) -> Context:
    meta = conn.execute(query("state.meta")).fetchone()
    assert meta is not None  # 0001 inserts the row
    rows = conn.execute(query("collect.sessions")).fetchall()
    sessions = tuple(
        SessionRef(
            id=row["id"],
            experiment=row["experiment"],
            variant=row["variant"],
            variant_version=row["variant_version"],
            task_card=row["task_card"],
            task_card_version=row["task_card_version"],
            key_alias=row["key_alias"],
            status=row["status"],
            opened_at=row["opened_at"],
            ended_at=row["ended_at"],
        )
        for row in rows
    )
    by_hash = {
        row["key_hash"]: ref for row, ref in zip(rows, sessions, strict=True) if row["key_hash"]
    }
    prices: dict[tuple[str, int], Prices | None] = {}
    latest: dict[str, int] = {}
    for row in conn.execute(query("collect.prices")):
        prices[(row["variant"], row["variant_version"])] = _prices(row["prices"])
        latest[row["variant"]] = max(latest.get(row["variant"], 0), row["variant_version"])
    capture = {
        row["experiment"]: policy
        for row in conn.execute(query("collect.capture"))
        if (policy := capture_policy(row["capture"])) is not None
    }
    return Context(
        by_hash=by_hash,
        by_alias={ref.key_alias: ref for ref in sessions},
        alias_prefix=alias_prefix(meta["lineage"]),
        prices=prices,
        latest_version=latest,
        capture=capture,
        selected=None if selected is None else frozenset(selected),
        sessions=sessions,
        abandoned={
            row["key_hash"]: (row["session_id"], row["attempt"])
            for row in conn.execute(query("runs.abandoned_keys"))
        },
    )


def capture_policy(document: Mapping[str, Any] | None) -> CapturePolicy | None:
    """The stored ``session_policy.content_capture`` block, or None when capture is off."""
    capture = ContentCapture.model_validate(document or {})
    if not capture.enabled:
        return None
    return CapturePolicy(
        redact=tuple(re.compile(pattern) for pattern in capture.redact),
        retention=timedelta(seconds=duration_seconds(capture.retention)),
    )


def _prices(document: Mapping[str, Any] | None) -> Prices | None:
    return None if document is None else Prices.model_validate(document)
