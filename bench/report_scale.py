"""Report at scale: an experiment with 1,000,000 collected requests, reported with the rollups
done in PostgreSQL.

The script starts a throw-away PostgreSQL (``pgserver``), migrates a fresh database, inserts an
experiment's objects and sessions, and COPYs in N synthetic requests (log-normal latency, TTFT
and throughput per variant; a few failures; a share of calls with unmeasured TTFT), then
ANALYZEs. It alternates, ``--repeats`` times, in the same process and on the same connection:

* **baseline**: one plain aggregate over the same rows, ``percentile_cont(0.5)`` of latency per
  variant (``SELECT variant, percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FROM
  requests WHERE experiment = ... GROUP BY variant``): the least any report that reads the
  calls' distribution from the database must spend;
* **report**: ``benchctl.report.writer.write_report`` into a fresh folder: the six queries of
  ``report.data.load`` (rollups view, session rollups, quality counts, log histograms), the
  statistics (Wilson, Newcombe, bootstrap over sessions), charts, Markdown and JSON, written.

The headline is median(report) / median(baseline). Stage times (database queries, statistics,
rendering) and the number of rows Python received are reported from one extra instrumented run.
A second write over the first must change no file (byte-identical output).

    python bench/report_scale.py                      # 1,000,000 requests, 3,000 sessions
    python bench/report_scale.py --requests 100000 --repeats 3 --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from benchpg import fresh_database, postgres
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from benchctl.db import migrate
from benchctl.db.queries import query
from benchctl.report import charts, data, markdown
from benchctl.report.build import build
from benchctl.report.writer import to_json, write_report

EXPERIMENT = "scale"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASELINE_QUERY = (
    "SELECT variant, percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)"
    " FROM requests WHERE experiment = %s GROUP BY variant"
)
# Per variant: median latency (ms), TTFT (ms, None: never measured), tokens/s, success rate.
VARIANTS = (
    ("sim-fast", 900.0, 250.0, 110.0, 0.85),
    ("sim-balanced", 1300.0, 400.0, 80.0, 0.8),
    ("sim-slow-cheap", 2600.0, None, 45.0, 0.7),
    ("sim-extra", 1100.0, 300.0, 95.0, 0.8),
)
TASK_CARDS = ("hello", "fix-bug", "add-tests")
REQUEST_COLUMNS = (
    "request_id", "session_id", "experiment", "variant", "variant_version", "task_card",
    "task_card_version", "key_hash", "started_at", "ended_at", "latency_ms", "ttft_ms",
    "ttft_quality", "output_tokens_per_s", "prompt_tokens", "completion_tokens",
    "cached_read_tokens", "cost_usd", "litellm_spend_usd", "status", "proxy_overhead_ms",
)  # fmt: skip


def _document(kind: str, name: str, spec: dict[str, Any]) -> Jsonb:
    return Jsonb(
        {"apiVersion": "benchctl/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}
    )


def load(url: str, n_requests: int, n_sessions: int, seed: int) -> None:
    """Objects, sessions and N requests; requests stream into one COPY."""
    rng = random.Random(seed)
    variants = [v[0] for v in VARIANTS]
    with psycopg.connect(url, autocommit=True) as conn:
        migrate.upgrade(conn)
        insert = (
            "INSERT INTO {} (name, version, spec, content_hash, comparable)"
            " VALUES (%s, 1, %s, %s, '{{}}')"
        )
        objects = [
            ("providers", "Provider", "sim", {"route": "openai/"}),
            ("harness_profiles", "HarnessProfile", "script", {"protocol": "openai-chat"}),
            *[("task_cards", "TaskCard", t, {"title": t}) for t in TASK_CARDS],
            *[
                ("variants", "Variant", v, {"provider": "sim", "model": v, "harness_profile": "x"})
                for v in variants
            ],
        ]
        objects.append(
            (
                "experiments",
                "Experiment",
                EXPERIMENT,
                {"variants": variants, "task_cards": list(TASK_CARDS), "baseline": variants[1]},
            )
        )
        for table, kind, name, spec in objects:
            conn.execute(
                sql.SQL(insert).format(sql.Identifier(table)),
                (name, _document(kind, name, spec), f"h-{name}"),
            )
        sessions = []
        per_variant = n_sessions // len(VARIANTS)
        for v_index, (variant, *_rest, success) in enumerate(VARIANTS):
            for i in range(per_variant):
                card = TASK_CARDS[i % len(TASK_CARDS)]
                replicate = i // len(TASK_CARDS) + 1
                sid = uuid.uuid5(uuid.NAMESPACE_URL, f"{variant}/{card}/{replicate}")
                outcome = "success" if rng.random() < success else "failure"
                opened = START + timedelta(minutes=v_index * per_variant + i)
                sessions.append(
                    (sid, variant, card, replicate, outcome, f"bench-{sid}", f"h-{sid}", opened)
                )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO sessions (id, experiment, variant, variant_version, task_card,"
                " task_card_version, harness_profile, replicate, status, outcome, key_alias,"
                " key_hash, budget_usd, ttl_seconds, repo_path, operator, opened_at, ended_at)"
                f" VALUES (%s, '{EXPERIMENT}', %s, 1, %s, 1, 'script', %s, 'finalized', %s, %s,"
                " %s, 5, 3600, '.', 'bench', %s, %s + interval '30 minutes')",
                [(*s, s[-1]) for s in sessions],
            )
            truths = {v[0]: v for v in VARIANTS}
            columns = ", ".join(REQUEST_COLUMNS)
            with cur.copy(f"COPY requests ({columns}) FROM STDIN") as copy:
                for k in range(n_requests):
                    sid, variant, card, _, _, _, key_hash, opened = sessions[k % len(sessions)]
                    _, latency_ms, ttft_ms, tps, _ = truths[variant]
                    latency = latency_ms * rng.lognormvariate(0, 0.4)
                    failed = rng.random() < 0.02
                    measured = ttft_ms is not None and rng.random() < 0.95
                    ttft = min(latency, (ttft_ms or 0) * rng.lognormvariate(0, 0.3))
                    started = opened + timedelta(seconds=k // len(sessions))
                    cost = 0.0004 * rng.lognormvariate(0, 0.3)
                    copy.write_row(
                        (
                            f"r{k}",
                            sid,
                            EXPERIMENT,
                            variant,
                            1,
                            card,
                            1,
                            key_hash,
                            started,
                            started + timedelta(milliseconds=latency),
                            latency,
                            ttft if measured else latency,
                            "measured" if measured else "equal_to_total",
                            None if failed else tps * rng.lognormvariate(0, 0.15),
                            800,
                            int(tps * latency / 1000),
                            200,
                            cost,
                            cost,
                            "failure" if failed else "success",
                            2 + rng.random(),
                        )
                    )
        conn.execute("VACUUM ANALYZE")


def _timed(fn: Any, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def stages(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """One instrumented report: where the time goes, and how many rows reach Python."""
    params = {"experiment": EXPERIMENT, "per_decade": data.BINS_PER_DECADE}
    per_query = {
        name: _timed(lambda q=name: conn.execute(query(q), params).fetchall())[0]
        for name in ("report.rollups", "report.sessions", "report.quality", "report.histograms")
    }
    t_load, loaded = _timed(data.load, conn, EXPERIMENT)
    t_build, report = _timed(build, loaded)

    def render() -> None:
        entries, _ = charts.render(report, loaded.histograms)
        final = report.model_copy(update={"charts": entries})
        markdown.render(final)
        to_json(final)

    t_render, _ = _timed(render)
    rows = (
        len(loaded.rollups)
        + len(loaded.sessions)
        + len(loaded.quality)
        + sum(len(h.counts) for h in loaded.histograms)
    )
    return {
        "database_s": t_load,
        "queries_s": per_query,
        "statistics_s": t_build,
        "render_s": t_render,
        "rows_to_python": rows,
        "requests": report.totals.requests if report.totals else 0,
        "sessions": report.totals.sessions if report.totals else 0,
        "headline": report.headline,
    }


def measure(url: str, repeats: int, say: Any) -> dict[str, Any]:
    baseline, reports = [], []
    out = Path(tempfile.mkdtemp(prefix="benchctl-report-scale-out-"))
    try:
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            conn.execute(BASELINE_QUERY, (EXPERIMENT,)).fetchall()  # warm the cache
            for i in range(repeats):
                t, _ = _timed(lambda: conn.execute(BASELINE_QUERY, (EXPERIMENT,)).fetchall())
                baseline.append(t)
                t, result = _timed(write_report, conn, EXPERIMENT, out / f"run{i}")
                reports.append(t)
                say(f"  repeat {i + 1}: baseline {baseline[-1]:.3f} s, report {t:.3f} s")
            again = write_report(conn, EXPERIMENT, out / "run0")
            identical = not again.changed
            instrumented = stages(conn)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "baseline_s": baseline,
        "report_s": reports,
        "baseline_median_s": statistics.median(baseline),
        "report_median_s": statistics.median(reports),
        "ratio": statistics.median(reports) / statistics.median(baseline),
        "identical_on_rewrite": identical,
        "files": len(result.written),
        **instrumented,
    }


def as_text(r: dict[str, Any], args: argparse.Namespace, pg: str) -> str:
    lines = [
        f"report_scale: {r['requests']:,} requests in {r['sessions']:,} sessions,"
        f" {len(VARIANTS)} variants, PostgreSQL {pg} (pgserver); medians of {args.repeats}",
        "",
        f"  baseline: one percentile_cont per variant   {r['baseline_median_s']:8.3f} s",
        f"  report:   write_report (6 queries + stats)  {r['report_median_s']:8.3f} s",
        f"  ratio report / baseline                     {r['ratio']:8.1f}",
        "",
        "  one instrumented report:",
        f"    database (data.load)   {r['database_s']:7.3f} s",
        *(f"      {name:<22} {s:7.3f} s" for name, s in r["queries_s"].items()),
        f"    statistics (build)     {r['statistics_s']:7.3f} s",
        f"    charts, Markdown, JSON {r['render_s']:7.3f} s",
        f"    rows sent to Python    {r['rows_to_python']:,} (for {r['requests']:,} requests)",
        f"  byte-identical on rewrite: {r['identical_on_rewrite']}",
        f"  headline: {r['headline']}",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=3_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    say("starting a throw-away PostgreSQL (pgserver) ...")
    with postgres("report-scale") as maintenance_url:
        url = fresh_database(maintenance_url, "report_scale")
        with psycopg.connect(url) as conn:
            pg = str(conn.execute("SHOW server_version").fetchone()[0])
        say(f"loading {args.requests:,} requests in {args.sessions:,} sessions (COPY) ...")
        t_load, _ = _timed(load, url, args.requests, args.sessions, args.seed)
        say(f"  loaded in {t_load:.1f} s; measuring ...")
        result = measure(url, args.repeats, say)
    result["load_s"] = t_load
    if args.json:
        payload = {
            "benchmark": "report_scale",
            "postgres": pg,
            "repeats": args.repeats,
            "machine": {
                "nproc": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            **result,
        }
        print(json.dumps(payload, indent=2))
    else:
        print(as_text(result, args, pg), end="")
    if not result["identical_on_rewrite"] or result["requests"] != args.requests:
        sys.exit(1)


if __name__ == "__main__":
    main()
