"""An experiment's raw data as files: requests, sessions and rollups, plus its manifests.

Tables are streamed from PostgreSQL, never held in memory: CSV through ``COPY ... TO STDOUT``,
JSON Lines through a server-side cursor that PostgreSQL renders rows for (``row_to_json``).
Rows come in a fixed order and timestamps in UTC, so exporting the same data twice gives the
same bytes. The manifest snapshot is what the database stored when it applied them, the
versions the sessions actually ran, not the working tree's files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg.rows import tuple_row

from benchctl.db.connection import Connection
from benchctl.db.queries import query
from benchctl.export import Format as Format  # re-exported: report.writer imports it here
from benchctl.report.data import require_experiment

TABLES = (
    "requests", "sessions", "verifications", "session_accounts", "run_attempts",
    "session_rollups", "rollups", "cost_ledger",
)  # fmt: skip
MANIFESTS = "manifests.json"
_BATCH = 5000


@dataclass(frozen=True)
class ExportResult:
    experiment: str
    directory: Path
    # File name -> rows written (the manifest snapshot counts its documents).
    files: dict[str, int]


def _copy_csv(conn: Connection, table: str, params: dict[str, Any], path: Path) -> int:
    statement = query("export.copy_csv").format(select=query(f"export.{table}"))
    with conn.cursor() as cur, path.open("wb") as out:
        # COPY takes no server-side parameters; psycopg binds these on the client.
        with cur.copy(statement, params) as copy:
            for block in copy:
                out.write(block)
        return max(cur.rowcount, 0)


def _stream_jsonl(conn: Connection, table: str, params: dict[str, Any], path: Path) -> int:
    # A plain projection over the ordered query keeps its order.
    statement = query("export.jsonl").format(select=query(f"export.{table}"))
    rows = 0
    with (
        conn.cursor(name=f"benchctl_export_{table}", row_factory=tuple_row) as cur,
        path.open("w", encoding="utf-8", newline="\n") as out,
    ):
        cur.itersize = _BATCH
        cur.execute(statement, params)
        for (line,) in cur:
            out.write(line)
            out.write("\n")
            rows += 1
    return rows


def _manifests(conn: Connection, params: dict[str, Any], path: Path) -> int:
    documents = [
        {
            "kind": row["kind"],
            "name": row["name"],
            "version": row["version"],
            "retired": row["retired"],
            "document": row["document"],
        }
        for row in conn.execute(query("export.manifests"), params).fetchall()
    ]
    path.write_text(
        json.dumps(documents, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return len(documents)


def export_experiment(
    conn: Connection, experiment: str, out_dir: Path, fmt: Format
) -> ExportResult:
    """Write the bundle into ``out_dir``; each file is replaced only once it is complete."""
    require_experiment(conn, experiment)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"experiment": experiment}
    files: dict[str, int] = {}
    with conn.transaction():
        conn.execute(query("export.utc"))
        for table in TABLES:
            name = f"{table}.{fmt}"
            tmp = out_dir / f".{name}.tmp"
            write = _copy_csv if fmt == "csv" else _stream_jsonl
            files[name] = write(conn, table, params, tmp)
            tmp.replace(out_dir / name)
        tmp = out_dir / f".{MANIFESTS}.tmp"
        files[MANIFESTS] = _manifests(conn, params, tmp)
        tmp.replace(out_dir / MANIFESTS)
    return ExportResult(experiment, out_dir, files)
