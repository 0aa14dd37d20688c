"""Loading normalized rows: per batch, one binary COPY per table into a temporary table, then one
merge per table (``INSERT ... ON CONFLICT (request_id) DO UPDATE ... WHERE changed``), in one
transaction. Never a round trip per row; a batch is all or nothing, so a collector killed at any
point leaves whole batches behind, and the next run's merge finds them unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from benchctl.collect.normalize import (
    DURABLE_SKIPS,
    Content,
    Normalized,
    Request,
    Skipped,
    Unattributed,
)
from benchctl.db.connection import Connection
from benchctl.db.queries import query
from benchctl.reconcile import failpoints

# PostgreSQL types of each NamedTuple's fields, in order, for binary COPY.
_REQUEST_TYPES = (
    "text", "text", "text", "uuid", "text", "text", "int4", "text", "int4", "text", "text",
    "text", "text", "text", "text", "timestamptz", "timestamptz", "timestamptz", "float8",
    "float8", "text", "float8", "int4", "int4", "int4", "int4", "int4", "float8", "float8",
    "text", "text", "text", "bool", "float8", "bool", "text", "timestamptz", "int4", "text",
)  # fmt: skip
_UNATTRIBUTED_TYPES = ("text", "text", "text", "text", "timestamptz", "text", "timestamptz")
_SKIPPED_TYPES = ("text", "text", "timestamptz")
_CONTENT_TYPES = ("text", "uuid", "text", "jsonb", "jsonb", "timestamptz", "timestamptz")
assert len(_REQUEST_TYPES) == len(Request._fields)


@dataclass
class Batch:
    """One batch's normalized rows, deduplicated by request id (the API pages by offset, so a
    row can come twice)."""

    requests: dict[str, Request] = field(default_factory=dict)
    content: dict[str, Content] = field(default_factory=dict)
    unattributed: dict[str, Unattributed] = field(default_factory=dict)
    skipped: dict[str, Skipped] = field(default_factory=dict)

    def add(self, item: Normalized | Unattributed | Skipped) -> None:
        if isinstance(item, Normalized):
            self.requests[item.request.request_id] = item.request
            if item.content is not None:
                self.content[item.content.request_id] = item.content
        elif isinstance(item, Unattributed):
            self.unattributed[item.request_id] = item
        else:
            self.skipped[item.request_id] = item


@dataclass(frozen=True)
class Merged:
    new: int
    updated: int
    unattributed_changed: int
    content_changed: int
    kept_costs: int = 0


def prepare(conn: Connection) -> None:
    """The session's temporary tables (emptied at every commit)."""
    conn.execute(query("collect.create_temp"))


def load(conn: Connection, batch: Batch, *, recost: bool = False) -> Merged:
    """Merge one batch in one transaction; tables the batch has no rows for cost nothing."""
    durable = [s for s in batch.skipped.values() if s.reason in DURABLE_SKIPS]
    content = [
        c._replace(messages=_json(c.messages), response=_json(c.response))
        for c in batch.content.values()
    ]
    new = updated = unattributed_changed = content_changed = kept = 0
    with conn.transaction():
        requests = _copy(conn, "collect_requests_in", Request._fields, _REQUEST_TYPES,
                         list(batch.requests.values()))  # fmt: skip
        unattributed = _copy(conn, "collect_unattributed_in", Unattributed._fields,
                             _UNATTRIBUTED_TYPES, list(batch.unattributed.values()))  # fmt: skip
        skipped = _copy(conn, "collect_skipped_in", Skipped._fields, _SKIPPED_TYPES, durable)
        captured = _copy(conn, "collect_content_in", Content._fields, _CONTENT_TYPES, content)
        failpoints.reached("collect.batch_copied")
        if requests and not recost:
            kept = conn.execute(query("collect.keep_costs")).rowcount
        if requests:
            counts = conn.execute(query("collect.merge_requests")).fetchone()
            assert counts is not None
            new, updated = counts["new"], counts["updated"]
        if unattributed:
            changed = conn.execute(query("collect.merge_unattributed")).fetchone()
            assert changed is not None
            unattributed_changed = changed["changed"]
        if skipped:
            conn.execute(query("collect.merge_skipped"))
        if captured:
            stored = conn.execute(query("collect.merge_content")).fetchone()
            assert stored is not None
            content_changed = stored["changed"]
        failpoints.reached("collect.batch_merged")
    failpoints.reached("collect.batch_committed")
    return Merged(new, updated, unattributed_changed, content_changed, max(kept, 0))


def _copy(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    types: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> bool:
    if not rows:
        return False
    statement = query("collect.copy_in_binary").format(
        table=sql.Identifier(table), columns=sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor().copy(statement) as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)
    return True


def _json(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)
