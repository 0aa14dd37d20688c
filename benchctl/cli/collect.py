"""``benchctl collect`` and ``benchctl purge-content``."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from benchctl.cli.options import Root, seconds
from benchctl.collect import DEFAULT_BATCH_SIZE, SourceName
from benchctl.errors import UsageError

if TYPE_CHECKING:
    from benchctl.collect.engine import CollectSummary

# Core modules are imported where used: every command, even --help, imports this module.

_DURATION = re.compile(r"^([0-9]+[dhms])+$")


def collect(
    root: Root = Path(),
    session: Annotated[
        list[str] | None,
        typer.Option(
            "--session", help="Only this session (id or its first 4+ characters); repeatable."
        ),
    ] = None,
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="Only this experiment's sessions.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Read spend logs of calls started at or after this time: an ISO date or time"
            " (UTC unless it says otherwise) or a duration ago, e.g. 2h or 7d.",
        ),
    ] = None,
    source: Annotated[
        SourceName,
        typer.Option(
            "--source",
            help="Where to read: `database` (LiteLLM's own, BENCHCTL_LITELLM_DATABASE_URL),"
            " `api` (the proxy's /spend/logs/v2), or `auto`: the database when configured.",
        ),
    ] = "auto",
    overlap: Annotated[
        str,
        typer.Option(
            "--overlap",
            help="How far before the watermark to read again, for rows LiteLLM writes late:"
            " at least the longest call plus its batch write interval plus 5 s.",
        ),
    ] = "10m",
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Rows per batch (one transaction each).")
    ] = DEFAULT_BATCH_SIZE,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="Normalize every row of the window again, even those stored unchanged (after"
            " fixing prices or enabling content capture); the API source always does.",
        ),
    ] = False,
    recost: Annotated[
        bool,
        typer.Option(
            "--recost",
            help="Cost the window's rows with the provider manifests' current prices. Without"
            " it, a row costed before keeps its cost when prices changed since.",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON (with format_version).")
    ] = False,
) -> None:
    """Collect what the LiteLLM proxy observed into the benchmark database.

    Reads LiteLLM's spend logs (its database when BENCHCTL_LITELLM_DATABASE_URL is set, else
    the proxy's API), joins every row to its session through the session key's hash, normalizes
    it (latency, TTFT and its quality, tokens, recomputed cost, errors) and loads it; rows of
    this database's keys that match no session are kept as unattributed, other keys' rows are
    skipped. With BENCHCTL_PROMETHEUS_URL, also reads LiteLLM's latency histograms per key.

    By default it reads from the last run's watermark (minus --overlap), or from the opening of
    the open and recently finalized sessions; running it again changes nothing.

    Examples:

      benchctl collect

      benchctl collect --experiment demo --json

      benchctl collect --session 1a2b --since 2026-03-01 --source api
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from benchctl.collect import engine
    from benchctl.settings import Settings

    settings = Settings.from_env(root)
    err = Console(stderr=True, soft_wrap=True)
    with Progress(
        TextColumn("collecting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=as_json or not err.is_terminal,
    ) as bar:
        task = bar.add_task("rows", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        summary = engine.collect(
            settings,
            sessions=session or (),
            experiment=experiment,
            since=parse_since(since),
            source=source,
            overlap=timedelta(seconds=seconds(overlap, "--overlap")),
            batch_size=batch_size,
            refresh=refresh,
            recost=recost,
            progress=progress,
        )
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
    else:
        typer.echo("\n".join(summary_lines(summary)))


def purge_content(
    root: Root = Path(),
    experiment: Annotated[
        str | None,
        typer.Option(
            "--experiment",
            help="Delete all of this experiment's captured content, expired or not.",
        ),
    ] = None,
) -> None:
    """Delete captured prompts and responses past their retention.

    Content is stored only for experiments whose session_policy.content_capture is enabled,
    with an expiry from its retention. Measurements (requests) are never touched.

    Examples:

      benchctl purge-content

      benchctl purge-content --experiment demo
    """
    from benchctl.collect import engine
    from benchctl.settings import Settings

    purged = engine.purge_content(Settings.from_env(root), experiment=experiment)
    what = f"of experiment {experiment}" if experiment else "past its retention"
    typer.echo(f"Purged captured content {what}: {purged} request(s).")


def parse_since(value: str | None, *, now: datetime | None = None) -> datetime | None:
    if value is None:
        return None
    if _DURATION.fullmatch(value):
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds(value, "--since"))
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since {value!r} is neither an ISO date or time (2026-03-01, 2026-03-01T09:30Z)"
            " nor a duration ago (2h, 7d)."
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def summary_lines(summary: CollectSummary) -> list[str]:
    window = "nothing" if summary.since is None else f"from {summary.since:%Y-%m-%d %H:%M:%S}Z"
    lines = [
        f"Collected from the {summary.source} source, {window}"
        f" ({summary.sessions} session(s) selected).",
        f"  rows read      {summary.rows_read}",
        f"  requests       {summary.new} new, {summary.updated} updated,"
        f" {summary.unchanged} unchanged",
        f"  unattributed   {summary.unattributed}"
        + (" (see the unattributed_requests table)" if summary.unattributed else ""),
    ]
    skipped = sum(summary.skipped.values())
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(summary.skipped.items()))
    lines.append(f"  skipped        {skipped}" + (f": {reasons}" if reasons else ""))
    if summary.tag_mismatches:
        lines.append(
            f"  tag mismatches {summary.tag_mismatches} (tags name another session; joined by"
            " key hash regardless)"
        )
    if summary.joined_by_alias:
        lines.append(
            f"  joined by alias {summary.joined_by_alias} (their key was replaced since the call)"
        )
    if summary.content_captured:
        lines.append(f"  content        {summary.content_captured} stored (redacted)")
    if summary.watermark is not None:
        lines.append(f"  watermark      {summary.watermark:%Y-%m-%d %H:%M:%S}Z")
    lines.append(f"  prometheus     {summary.prometheus}")
    if summary.kept_costs:
        lines.append(
            f"  kept costs     {summary.kept_costs} row(s) keep the cost of the prices they were"
            " collected with (prices changed since; --recost re-costs them)"
        )
    if summary.spend_log_gaps:
        lines.append(
            f"  spend gaps     {summary.spend_log_gaps} successful call(s) in"
            f" {summary.spend_log_gap_sessions} session(s) that Prometheus counted but LiteLLM's"
            " spend logs lack: possible dropped spend rows (see the spend_log_gaps view)"
        )
    if summary.note:
        lines.append(f"Note: {summary.note}")
    return lines
