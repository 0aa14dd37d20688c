"""``collect``: read a window of spend logs, normalize, load, and say what happened.

The window starts at ``--since``, else at the source's watermark minus the overlap, else at the
first opening of the selected sessions minus the overlap. Only runs over every session (no
``--session``, ``--experiment`` or ``--since``) move the watermark: a narrower run reads part of
the window, and must not let the next default run start after rows it did not load.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from benchctl.collect import DEFAULT_BATCH_SIZE, SourceName
from benchctl.collect import load as loader
from benchctl.collect.context import Context, SessionRef, load_context
from benchctl.collect.normalize import normalize
from benchctl.collect.prometheus import collect_prometheus
from benchctl.collect.sources import ApiSource, DatabaseSource
from benchctl.collect.spend_row import SpendRow
from benchctl.db.connection import Connection, connect
from benchctl.db.queries import query
from benchctl.errors import UsageError
from benchctl.litellm import DEFAULT_BATCH_WRITE_SECONDS
from benchctl.litellm.client import LiteLLMClient
from benchctl.settings import Settings

FORMAT_VERSION = 1
# LiteLLM writes spend logs every proxy_batch_write_at seconds plus up to 5 s of jitter, after
# the call ends; the watermark is on start times, so the overlap must also cover the longest
# call. Ten minutes covers long agent turns; --overlap changes it.
DEFAULT_OVERLAP = timedelta(minutes=10)
MIN_OVERLAP = timedelta(seconds=DEFAULT_BATCH_WRITE_SECONDS + 5)
# Finalized sessions the default run still looks at: their late rows.
RECENT = timedelta(days=1)

Progress = Callable[[int, int | None], None]


@dataclass
class CollectSummary:
    source: str
    since: datetime | None
    sessions: int
    rows_read: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    unattributed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    tag_mismatches: int = 0
    joined_by_alias: int = 0
    content_captured: int = 0
    watermark: datetime | None = None
    prometheus: str = ""
    # Successful calls Prometheus counted that the spend logs lack, and in how many sessions.
    spend_log_gaps: int = 0
    spend_log_gap_sessions: int = 0
    # Rows costed before with prices that changed since, which kept their cost (no --recost).
    kept_costs: int = 0
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("since", "watermark"):
            value = data[key]
            data[key] = None if value is None else value.isoformat()
        data["skipped"] = dict(sorted(self.skipped.items()))
        return {"format_version": FORMAT_VERSION, **data}


@dataclass(frozen=True)
class Selection:
    session_ids: frozenset[uuid.UUID] | None
    count: int
    opened_from: datetime | None


def collect(
    settings: Settings,
    *,
    sessions: Sequence[str] = (),
    experiment: str | None = None,
    since: datetime | None = None,
    source: SourceName = "auto",
    overlap: timedelta = DEFAULT_OVERLAP,
    batch_size: int = DEFAULT_BATCH_SIZE,
    refresh: bool = False,
    recost: bool = False,
    progress: Progress | None = None,
) -> CollectSummary:
    if overlap < MIN_OVERLAP:
        raise UsageError(
            f"--overlap must be at least {MIN_OVERLAP.total_seconds():g}s: LiteLLM writes spend"
            " logs up to its batch interval plus 5 s after a call ends."
        )
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1.")
    if since is not None and since.tzinfo is None:
        raise ValueError("since must be an aware datetime")
    chosen = _source_name(settings, source)
    conn = connect(settings, upgrade=True)
    try:
        conn.execute("SET TIME ZONE 'UTC'")
        everything = load_context(conn)
        selection = _select(everything, sessions, experiment)
        ctx = replace(everything, selected=selection.session_ids, recost=recost)
        # Re-costing means normalizing again rows stored unchanged.
        refresh = refresh or recost
        moves_watermark = not sessions and experiment is None and since is None
        summary = CollectSummary(source=chosen, since=None, sessions=selection.count)
        start = _window_start(conn, chosen, since, selection, overlap, moves_watermark)
        summary.since = start
        if start is None:
            summary.note = (
                "no open or recently finalized sessions and no watermark yet: nothing to read"
                " (use --since, --session or --experiment to read older traffic)"
            )
        else:
            loader.prepare(conn)
            high_water = _run(settings, conn, ctx, chosen, start, summary, batch_size, refresh,
                              progress)  # fmt: skip
            if moves_watermark and high_water is not None:
                conn.execute(
                    query("collect.set_watermark"), {"source": chosen, "high_water": high_water}
                )
            row = conn.execute(query("collect.watermark"), {"source": chosen}).fetchone()
            summary.watermark = None if row is None else row["high_water"]
        summary.prometheus = collect_prometheus(
            conn, settings.prometheus_url, ctx.alias_prefix
        ).status
        selected = None if ctx.selected is None else sorted(ctx.selected)
        gaps = conn.execute(query("collect.spend_log_gaps"), {"sessions": selected}).fetchone()
        if gaps is not None:
            summary.spend_log_gaps = int(gaps["missing"])
            summary.spend_log_gap_sessions = int(gaps["sessions"])
        return summary
    finally:
        conn.close()


def purge_content(settings: Settings, *, experiment: str | None = None) -> int:
    """Delete captured content past its retention, or all of ``experiment``'s; how many rows."""
    conn = connect(settings, upgrade=True)
    try:
        row = conn.execute(query("collect.purge_content"), {"experiment": experiment}).fetchone()
        assert row is not None
        return int(row["purged"])
    finally:
        conn.close()


def _run(
    settings: Settings,
    conn: Connection,
    ctx: Context,
    chosen: str,
    start: datetime,
    summary: CollectSummary,
    batch_size: int,
    refresh: bool,
    progress: Progress | None,
) -> datetime | None:
    """Read, normalize and load the window; the latest start time read."""
    if chosen == "api":
        assert settings.proxy_url is not None and settings.proxy_master_key is not None
        api = ApiSource(LiteLLMClient(settings.proxy_url, settings.proxy_master_key))
        try:
            batches = api.rows(start, until=datetime.now(UTC))
            return _load_batches(conn, ctx, batches, summary, progress, total=None)
        finally:
            api.close()
    assert settings.litellm_database_url is not None
    database = DatabaseSource(settings.litellm_database_url)
    try:
        capture = [s for s in ctx.sessions if s.experiment in ctx.capture]
        capture_keys = [h for h, s in ctx.by_hash.items() if s.experiment in ctx.capture]

        def read(ids: list[str] | None) -> Iterator[list[SpendRow]]:
            return database.rows(
                start,
                ids=ids,
                capture_keys=capture_keys,
                capture_aliases=[s.key_alias for s in capture],
                batch_size=batch_size,
            )

        if refresh:
            return _load_batches(conn, ctx, read(None), summary, progress, total=None)
        with conn.transaction():
            database.versions_into(conn, start)
        seen = conn.execute(query("collect.seen_summary")).fetchone()
        assert seen is not None
        changed = [r["request_id"] for r in conn.execute(query("collect.changed_ids"))]
        # Rows stored at the version LiteLLM still has are counted without being read again.
        summary.rows_read = seen["seen"] - len(changed)
        summary.unchanged = seen["unchanged"]
        summary.unattributed = seen["unattributed"]
        summary.skipped = dict(seen["skipped"])
        if progress:
            progress(summary.rows_read, seen["seen"])
        if changed:
            ids = None if len(changed) * 2 > seen["seen"] else changed
            wanted = set(changed)
            batches = ([row for row in batch if row.request_id in wanted] for batch in read(ids))
            _load_batches(conn, ctx, batches, summary, progress, total=seen["seen"])
        high_water: datetime | None = seen["high_water"]
        return high_water
    finally:
        database.close()


def _load_batches(
    conn: Connection,
    ctx: Context,
    batches: Iterable[list[SpendRow]],
    summary: CollectSummary,
    progress: Progress | None,
    total: int | None,
) -> datetime | None:
    high_water: datetime | None = None
    skipped: Counter[str] = Counter(summary.skipped)
    for rows in _nonempty(batches):
        batch = loader.Batch()
        for row in rows:
            batch.add(normalize(row, ctx))
            if high_water is None or row.started_at > high_water:
                high_water = row.started_at
        merged = loader.load(conn, batch, recost=ctx.recost)
        summary.rows_read += len(rows)
        summary.new += merged.new
        summary.updated += merged.updated
        summary.kept_costs += merged.kept_costs
        summary.unchanged += len(batch.requests) - merged.new - merged.updated
        summary.unattributed += len(batch.unattributed)
        summary.content_captured += merged.content_changed
        summary.tag_mismatches += sum(r.tag_mismatch for r in batch.requests.values())
        summary.joined_by_alias += sum(r.joined_by == "key_alias" for r in batch.requests.values())
        skipped.update(s.reason for s in batch.skipped.values())
        if progress:
            progress(summary.rows_read, total)
    summary.skipped = dict(skipped)
    return high_water


def _nonempty(batches: Iterable[list[SpendRow]]) -> Iterator[list[SpendRow]]:
    return (batch for batch in batches if batch)


def _source_name(settings: Settings, source: SourceName) -> str:
    proxy = settings.proxy_url is not None and settings.proxy_master_key is not None
    if source == "auto":
        if settings.litellm_database_url:
            return "database"
        if proxy:
            return "api"
        raise UsageError(
            "nothing to collect from: set BENCHCTL_LITELLM_DATABASE_URL (LiteLLM's database, the"
            " fast path) or BENCHCTL_PROXY_URL and BENCHCTL_PROXY_MASTER_KEY (its API)."
        )
    if source == "database" and not settings.litellm_database_url:
        raise UsageError(
            "--source database needs BENCHCTL_LITELLM_DATABASE_URL: the proxy's DATABASE_URL."
        )
    if source == "api" and not proxy:
        raise UsageError(
            "--source api needs BENCHCTL_PROXY_URL and BENCHCTL_PROXY_MASTER_KEY (the proxy's"
            " master key, which /spend/logs/v2 requires)."
        )
    return source


def _select(ctx: Context, sessions: Sequence[str], experiment: str | None) -> Selection:
    """The sessions a run is about. By default every session's rows are loaded (late rows of an
    older session still belong to it), and the open or recently finalized ones date the window
    when there is no watermark yet."""
    chosen = list(ctx.sessions)
    if experiment is not None:
        chosen = [s for s in chosen if s.experiment == experiment]
        if not chosen:
            raise UsageError(
                f"experiment {experiment!r} has no sessions in the benchmark database;"
                " `benchctl session list` shows those that exist."
            )
    if sessions:
        picked = {_resolve(ctx, prefix).id for prefix in sessions}
        chosen = [s for s in chosen if s.id in picked]
        if not chosen:
            raise UsageError(f"none of the sessions given belongs to experiment {experiment!r}.")
    narrowed = bool(sessions) or experiment is not None
    if not narrowed:
        now = datetime.now(UTC)
        chosen = [
            s for s in chosen
            if s.status not in ("finalized", "aborted")
            or (s.ended_at is not None and s.ended_at >= now - RECENT)
        ]  # fmt: skip
    opened = [s.opened_at for s in chosen if s.opened_at is not None]
    return Selection(
        session_ids=frozenset(s.id for s in chosen) if narrowed else None,
        count=len(chosen),
        opened_from=min(opened) if opened else None,
    )


def _resolve(ctx: Context, prefix: str) -> SessionRef:
    if len(prefix) < 4:
        raise UsageError(f"session id {prefix!r} is too short: give at least 4 characters.")
    matches = [s for s in ctx.sessions if str(s.id).startswith(prefix.lower())]
    if not matches:
        raise UsageError(
            f"no session {prefix!r} in the benchmark database; `benchctl session list` shows them."
        )
    if len(matches) > 1:
        raise UsageError(f"session id {prefix!r} is ambiguous: give more characters.")
    return matches[0]


def _window_start(
    conn: Connection,
    chosen: str,
    since: datetime | None,
    selection: Selection,
    overlap: timedelta,
    moves_watermark: bool,
) -> datetime | None:
    if since is not None:
        return since
    if moves_watermark:
        row = conn.execute(query("collect.watermark"), {"source": chosen}).fetchone()
        if row is not None:
            mark: datetime = row["high_water"]
            return mark - overlap
    return None if selection.opened_from is None else selection.opened_from - overlap
