"""Collect at scale: the database source against a raw binary COPY of the same rows.

On a throw-away PostgreSQL (``pgserver``), the script creates LiteLLM's ``"LiteLLM_SpendLogs"``
table (``tests/fixtures/litellm/spendlogs.py``, checked against the real proxy's table by
tests/test_collect_proxy.py) in one database and fills it with N synthetic rows shaped like
LiteLLM 1.106.2's (its full metadata document, ~9 KB a row, most of it
``model_map_information``; one row in 20 a 429, half the successes streamed), spread over the
keys of 100 open sessions of a benchmark database on the same server. Then, per repeat:

* baseline: the rows, dumped once with ``COPY ... TO ... (FORMAT BINARY)``, loaded with a binary
  ``COPY ... FROM`` into an empty table of the same shape (indexes included) in the benchmark
  database: what moving these rows into this server costs at the least;
* first collect: ``benchctl.collect.engine.collect`` of the whole window into an empty
  ``requests`` table, exactly what ``benchctl collect --since ...`` runs (versions pass,
  server-side cursor over the projection, normalization, binary COPY and merge per batch);
* second collect of the same window: nothing new, nothing changed.

It prints rows/s and the ratio collect / COPY (target >= 0.5), and how much faster the second
collect is than the first (target >= 5x); medians of ``--repeats``.

    python bench/collect_scale.py                       # 1,000,000 rows, 3 repeats
    python bench/collect_scale.py --rows 50000 --repeats 1 --json
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from fixtures.litellm import spendlogs  # noqa: E402

from benchctl.collect.engine import collect  # noqa: E402
from benchctl.settings import Settings  # noqa: E402

SINCE = spendlogs.START - timedelta(minutes=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import pgserver

    workdir = Path(tempfile.mkdtemp(prefix="benchctl-collect-scale-"))
    workdir.chmod(0o755)
    server = pgserver.get_server(workdir / "pg", cleanup_mode="stop")
    try:
        maintenance = str(server.get_uri("postgres"))
        litellm = spendlogs.create_database(maintenance, "litellm")
        bench = _database(maintenance, "bench")
        keys = spendlogs.seed_sessions(bench, args.sessions)
        started = time.perf_counter()
        spendlogs.insert(litellm, spendlogs.rows(args.rows, keys))
        fill_s = time.perf_counter() - started
        with psycopg.connect(litellm, autocommit=True) as conn:
            conn.execute('VACUUM ANALYZE "LiteLLM_SpendLogs"')
            size = conn.execute(
                "SELECT pg_total_relation_size('\"LiteLLM_SpendLogs\"')"
            ).fetchone()[0]
        dump = workdir / "rows.bin"
        server_file = str(dump)
        out_sql = 'COPY "LiteLLM_SpendLogs" TO STDOUT (FORMAT BINARY)'
        with (
            psycopg.connect(litellm, autocommit=True) as conn,
            dump.open("wb") as out,
            conn.cursor().copy(out_sql) as rows,
        ):
            for data in rows:
                out.write(data)
        dump.chmod(0o644)
        settings = Settings(
            root=workdir, database_url=bench, proxy_url=None, litellm_database_url=litellm
        )
        copies, firsts, seconds = [], [], []
        for _ in range(args.repeats):
            copies.append(_raw_copy(bench, server_file))
            _empty(bench)
            t0 = time.perf_counter()
            first = collect(settings, since=SINCE, batch_size=args.batch_size)
            t1 = time.perf_counter()
            second = collect(settings, since=SINCE, batch_size=args.batch_size)
            t2 = time.perf_counter()
            assert first.new == args.rows and second.unchanged == args.rows, (first, second)
            firsts.append(t1 - t0)
            seconds.append(t2 - t1)
        copy_s, first_s, second_s = map(statistics.median, (copies, firsts, seconds))
        result = {
            "rows": args.rows,
            "sessions": args.sessions,
            "repeats": args.repeats,
            "batch_size": args.batch_size,
            "litellm_table_bytes": size,
            "binary_dump_bytes": dump.stat().st_size,
            "fill_s": round(fill_s, 3),
            "copy_s": round(copy_s, 3),
            "collect_s": round(first_s, 3),
            "second_collect_s": round(second_s, 3),
            "copy_rows_per_s": round(args.rows / copy_s),
            "collect_rows_per_s": round(args.rows / first_s),
            "ratio_collect_to_copy": round(copy_s / first_s, 3),
            "second_collect_speedup": round(first_s / second_s, 1),
            "python": platform.python_version(),
            "postgres": _version(bench),
        }
    finally:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    ok = result["ratio_collect_to_copy"] >= 0.5 and result["second_collect_speedup"] >= 5
    return 0 if ok else 1


def _database(maintenance: str, name: str) -> str:
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return psycopg.conninfo.make_conninfo(maintenance, dbname=name)


def _raw_copy(url: str, path: str) -> float:
    """Seconds to COPY the dumped rows into an empty LiteLLM-shaped table (server-side file)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS raw_copy")
        conn.execute(spendlogs.CREATE_TABLE.replace('"LiteLLM_SpendLogs"', "raw_copy"))
        started = time.perf_counter()
        conn.execute(f"COPY raw_copy FROM '{path}' (FORMAT BINARY)")
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE raw_copy")
    return elapsed


def _empty(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE requests, unattributed_requests, skipped_requests, request_content")
        conn.execute("VACUUM ANALYZE requests")


def _version(url: str) -> str:
    with psycopg.connect(url) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0])


def _print(r: dict) -> None:
    print(f"rows: {r['rows']:,} over {r['sessions']} sessions ({r['repeats']} repeat(s), median)")
    print(f"LiteLLM table: {r['litellm_table_bytes'] / 1e9:.2f} GB on disk,"
          f" binary dump {r['binary_dump_bytes'] / 1e9:.2f} GB")  # fmt: skip
    print(f"raw binary COPY:   {r['copy_s']:8.2f} s  {r['copy_rows_per_s']:>9,} rows/s")
    print(f"collect:           {r['collect_s']:8.2f} s  {r['collect_rows_per_s']:>9,} rows/s")
    print(f"ratio collect/COPY: {r['ratio_collect_to_copy']:.2f} (target >= 0.5)")
    print(f"second collect:    {r['second_collect_s']:8.2f} s"
          f"  ({r['second_collect_speedup']}x faster; target >= 5x)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
