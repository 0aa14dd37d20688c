"""Opening the benchmark database: the embedded default or ``BENCHCTL_DATABASE_URL``."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg.rows import dict_row

from benchctl.db import embedded, migrate
from benchctl.errors import DatabaseError
from benchctl.settings import Settings

Connection = psycopg.Connection[dict[str, Any]]


def database_url(settings: Settings) -> str:
    return settings.database_url or embedded.start(settings.state_dir)


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def open_connection(settings: Settings) -> Connection:
    """A connection, whatever the schema's version (for ``benchctl db``)."""
    url = database_url(settings)
    try:
        conn: Connection = psycopg.connect(url, row_factory=dict_row, application_name="benchctl")
    except psycopg.OperationalError as exc:
        raise DatabaseError(
            f"cannot connect to the benchmark database at {redact_url(url)}: {exc}".strip()
            + " Check BENCHCTL_DATABASE_URL, or unset it to use the embedded database."
        ) from None
    conn.autocommit = True
    return conn


def connect(settings: Settings, *, upgrade: bool) -> Connection:
    """A connection at the current schema.

    The embedded database is ours, so it is always brought up to date. A shared server named
    by ``BENCHCTL_DATABASE_URL`` is migrated only by writers (``upgrade``): a read-only plan
    must not change it, and says to run ``benchctl db upgrade`` instead.
    """
    conn = open_connection(settings)
    todo = migrate.pending(conn)
    if todo and (settings.database_url is None or upgrade):
        migrate.upgrade(conn)
    elif todo:
        where = f"database {conn.info.dbname!r} on {conn.info.host}"
        conn.close()
        raise DatabaseError(
            f"the benchmark {where} is {len(todo)} schema migration(s) behind this benchctl;"
            " run `benchctl db upgrade`."
        )
    return conn
