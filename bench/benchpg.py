"""The benchmarks' throw-away PostgreSQL: a pgserver instance, one fresh database per case."""

from __future__ import annotations

import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql


@contextmanager
def postgres(name: str) -> Iterator[str]:
    """Maintenance URL of a pgserver PostgreSQL in a 0755 folder under /tmp, stopped after."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        import pgserver

    # As root, pgserver runs postgres as its own system user, which must reach the folder.
    datadir = Path(tempfile.mkdtemp(prefix=f"benchctl-{name}-pg-"))
    datadir.chmod(0o755)
    server = pgserver.get_server(datadir, cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        yield str(server.get_uri("postgres"))
    finally:
        server.cleanup()
        shutil.rmtree(datadir, ignore_errors=True)


def fresh_database(maintenance_url: str, name: str) -> str:
    """A new, empty database on the server of ``maintenance_url``; its URL."""
    database = f"{name}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    info = psycopg.conninfo.conninfo_to_dict(maintenance_url)
    info["dbname"] = database
    return psycopg.conninfo.make_conninfo(**info)
