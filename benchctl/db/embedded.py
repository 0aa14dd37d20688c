"""The embedded default: a real PostgreSQL from the ``pgserver`` package under ``.benchctl/``.

The server outlives the command that started it (``cleanup_mode=None``) so the next command
reuses it in milliseconds. Starting it is announced through ``on_started`` (the CLI prints one
line), and `benchctl status` shows it, `benchctl db stop` or `benchctl down` stop it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from benchctl.db.queries import query
from benchctl.errors import DatabaseError
from benchctl.settings import database_problem, redact_dsn

DATABASE = "benchctl"


def _silent(data: Path) -> None:
    """The default ``on_started``: library users and tests hear nothing."""


# Called with the data folder when a command had to start the server (it was not running).
on_started: Callable[[Path], None] = _silent


def data_dir(state_dir: Path) -> Path:
    return state_dir / "pgdata"


def start(state_dir: Path, database: str = DATABASE, *, announce: bool = True) -> str:
    """Start (or find running) the embedded server; return the URL of ``database`` on it.

    ``announce``: call ``on_started`` if the server had to be started (`up` reports it its own
    way).
    """
    with warnings.catch_warnings():
        # platformdirs warns on machines without XDG_RUNTIME_DIR (containers, CI); pgserver
        # falls back to /tmp on its own, so the warning would only alarm the user.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        return _start(state_dir, database, announce)


def _start(state_dir: Path, database: str, announce: bool) -> str:
    import pgserver  # imported late: it is slow to import and unused with BENCHCTL_DATABASE_URL

    state_dir.mkdir(parents=True, exist_ok=True)
    was_running = (data_dir(state_dir) / "postmaster.pid").is_file()
    # As root, pgserver runs postgres as its own system user, which must reach the data folder.
    state_dir.chmod(0o755)
    try:
        server = pgserver.get_server(data_dir(state_dir), cleanup_mode=None)  # type: ignore[attr-defined]
    except Exception as exc:  # pgserver raises bare Exceptions with postgres' log in them
        raise DatabaseError(
            f"could not start the embedded PostgreSQL in {data_dir(state_dir)}"
            f" ({_first_line(exc)}; its log is {data_dir(state_dir) / 'log'}). Delete that"
            " folder to start afresh, or set BENCHCTL_DATABASE_URL to use a server of your own."
        ) from exc
    ensure_database(server.get_uri("postgres"), database)
    if announce and not was_running:
        on_started(data_dir(state_dir))
    return str(server.get_uri(database))


def ensure_database(maintenance_url: str, database: str) -> None:
    """Create ``database`` on the server of ``maintenance_url`` unless it exists."""
    try:
        with psycopg.connect(maintenance_url, autocommit=True) as conn:
            found = conn.execute(query("migrations.database_exists"), {"name": database})
            if found.fetchone() is None:
                create = query("migrations.create_database")
                conn.execute(create.format(name=sql.Identifier(database)))
    except psycopg.Error as exc:
        raise DatabaseError(
            f"cannot create the database {database!r} on the server at"
            f" {redact_dsn(maintenance_url)} ({database_problem(exc)}). Check that the server"
            " runs and that its role may CREATE DATABASE, or create the database yourself."
        ) from None


def _first_line(exc: BaseException) -> str:
    """The first line of a message that may go on with a whole log."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = redact_dsn(lines[0]) if lines else type(exc).__name__
    return first if len(first) <= 200 else first[:197].rstrip() + "..."
