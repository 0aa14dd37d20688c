"""A CSV bundle written by `benchctl export`, loaded back into a benchmark database.

For offline analysis and for reproducing a committed report from the data it was made from: a
report of the restored experiment comes out byte for byte as the one written beside the bundle.
Key hashes are not in bundles, so restored requests carry none; nothing in reports uses them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from benchctl.db.connection import Connection
from benchctl.db.queries import query
from benchctl.errors import UsageError
from benchctl.export.bundle import MANIFESTS
from benchctl.manifests.models import KINDS
from benchctl.reconcile.desired import digest

# Bundles name a session's id `session_id`; the table calls it `id`.
_SESSION_COLUMNS = {"session_id": "id"}
_BLOCK = 1 << 16


def restore_bundle(conn: Connection, directory: Path) -> str:
    """Load the bundle in ``directory`` in one transaction; the experiment's name."""
    manifests = _manifests(directory)
    experiments = [str(m["name"]) for m in manifests if m["kind"] == "Experiment"]
    if not experiments:
        raise UsageError(f"{directory / MANIFESTS} holds no experiment; is it a bundle?")
    experiment = experiments[0]
    present = conn.execute(query("export.experiment_exists"), {"experiment": experiment})
    row = present.fetchone()
    if row is not None and row["present"]:
        raise UsageError(
            f"experiment {experiment!r} is already in this database; restore into an empty one"
            " (BENCHCTL_DATABASE_URL)."
        )
    with conn.transaction():
        with conn.cursor() as cur:
            for kind, (_, table) in KINDS.items():
                rows = [_object_row(m) for m in manifests if m["kind"] == kind]
                statement = query("export.restore_object").format(table=sql.Identifier(table))
                cur.executemany(statement, rows)
        _copy(conn, directory / "sessions.csv", "sessions", _SESSION_COLUMNS)
        # Bundles from before verifiers, harness accounts and headless runs existed have none.
        for table in ("verifications", "session_accounts", "run_attempts"):
            if (directory / f"{table}.csv").is_file():
                _copy(conn, directory / f"{table}.csv", table, {})
        _copy(conn, directory / "requests.csv", "requests", {})
    return experiment


def _manifests(directory: Path) -> list[dict[str, Any]]:
    path = directory / MANIFESTS
    try:
        documents = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} is not a bundle's manifest snapshot: {exc}") from None
    if not isinstance(documents, list):
        raise UsageError(f"{path} is not a bundle's manifest snapshot: not a list.")
    return documents


def _object_row(manifest: dict[str, Any]) -> dict[str, Any]:
    document = manifest["document"]
    return {
        "name": manifest["name"],
        "version": manifest["version"],
        "spec": Jsonb(document),
        "content_hash": digest(document),
        "retired": bool(manifest.get("retired")),
    }


def _copy(conn: Connection, path: Path, table: str, renames: dict[str, str]) -> None:
    """COPY a bundle CSV into ``table`` through a staging table, columns named by its header."""
    if not path.is_file():
        raise UsageError(f"{path} is missing; export the bundle with --format csv.")
    names = {"table": sql.Identifier(table), "stage": sql.Identifier(f"restore_{table}")}
    with path.open("rb") as source, conn.cursor() as cur:
        header = [renames.get(n, n) for n in source.readline().decode().strip().split(",")]
        columns = sql.SQL(", ").join(map(sql.Identifier, header))
        cur.execute(query("export.restore_stage").format(**names))
        with cur.copy(query("export.restore_copy").format(columns=columns, **names)) as copy:
            while block := source.read(_BLOCK):
                copy.write(block)
        if table == "requests":
            cur.execute(query("export.restore_requests_fill").format(**names))
            # status_class is derived by the table itself (a generated column).
            kept = [c for c in header if c != "status_class"]
            columns = sql.SQL(", ").join(map(sql.Identifier, [*kept, "key_hash"]))
        cur.execute(query("export.restore_insert").format(columns=columns, **names))
