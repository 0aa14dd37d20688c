"""Opening the benchmark database: the embedded default or ``BENCHCTL_DATABASE_URL``.

Every failure of the database is a ``DatabaseError`` of one line, whatever psycopg raised and
wherever: connecting (``open_connection``) and using the connection (``BenchConnection``: a
server that dies or ends the session mid-command). Connection strings in messages go through
``redact_dsn``.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import psycopg
from psycopg.abc import RV, PQGen
from psycopg.rows import dict_row

from benchctl.db import embedded, migrate
from benchctl.errors import DatabaseError
from benchctl.settings import Settings, database_problem, redact_dsn

Connection = psycopg.Connection[dict[str, Any]]

# What psycopg raises when the server or the connection fails a command (the connection is
# lost, a lock or statement timeout, a server out of disk...); a query's own errors (a
# constraint, a syntax error) are other classes and stay psycopg's: they are bugs.
_FAILURES = (psycopg.OperationalError, psycopg.InterfaceError)


class DatabaseFailure(DatabaseError, psycopg.OperationalError):
    """A failure of the database while in use, as benchctl reports it: a DatabaseError of one
    line for the CLI, and still a psycopg.OperationalError for code that catches those."""


class BenchConnection(psycopg.Connection[dict[str, Any]]):
    """A psycopg connection whose failures in use are ``DatabaseError`` of one line.

    Done at psycopg's two choke points rather than around each call, so that it holds for every
    use of the connection, in a ``with`` block or not: every exchange with the server goes
    through ``wait`` (queries, COPY, commits, transactions, server-side cursors), and every call
    on a connection already closed goes through ``_check_connection_ok`` first.

    One exception: on a live connection, ``QueryCanceled`` passes ``wait`` unchanged, because
    psycopg catches it itself when a COPY is aborted by an exception of ours; a statement
    timeout leaving a ``with`` block is turned into a DatabaseError by ``__exit__``. What is
    raised is a ``DatabaseFailure``, also a psycopg.OperationalError, with psycopg's own error
    as its ``__cause__`` for code that must tell failures apart (a retry on a serialization
    failure).
    """

    # Where the connection goes, for messages: set by open_connection.
    where = "the benchmark database"

    def wait(
        self, gen: PQGen[RV], interval: float | None = None, timeout: float | None = None
    ) -> RV:
        try:
            if interval is None:
                return super().wait(gen, timeout=timeout)
            return super().wait(gen, interval, timeout)
        except _FAILURES as exc:
            if isinstance(exc, DatabaseError):  # ours already, from _check_connection_ok
                raise
            if isinstance(exc, psycopg.errors.QueryCanceled) and not self.closed:
                raise
            raise self._failed(exc) from exc

    def _check_connection_ok(self) -> None:
        try:
            super()._check_connection_ok()
        except _FAILURES as exc:
            raise self._failed(exc) from exc

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc_val, exc_tb)
        if isinstance(exc_val, _FAILURES) and not isinstance(exc_val, DatabaseError):
            raise self._failed(exc_val) from exc_val

    def _failed(self, exc: BaseException) -> DatabaseFailure:
        if self.closed:
            return DatabaseFailure(
                f"lost the connection to {self.where} ({database_problem(exc)}): check that"
                " the server is running (`benchctl status`) and run the command again."
            )
        return DatabaseFailure(
            f"{self.where} stopped the command ({database_problem(exc)}). Run it again; if it"
            " fails the same way, look at the database server's log."
        )


def database_url(settings: Settings) -> str:
    return settings.database_url or embedded.start(settings.state_dir)


def open_connection(settings: Settings) -> Connection:
    """A connection, whatever the schema's version (for ``benchctl db``)."""
    url = database_url(settings)
    if settings.database_url is None:
        where = f"the embedded PostgreSQL in {embedded.data_dir(settings.state_dir)}"
        fix = "Run `benchctl status` to see it, or `benchctl db stop` and try again."
    else:
        where = f"the benchmark database at {redact_dsn(url)}"
        fix = "Check BENCHCTL_DATABASE_URL, or unset it to use the embedded database."
    try:
        conn = BenchConnection.connect(url, row_factory=dict_row, application_name="benchctl")
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to {where} ({database_problem(exc)}). {fix}") from None
    conn.where = where
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
