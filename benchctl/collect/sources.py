"""Where spend-log rows come from.

- ``DatabaseSource``: LiteLLM's own ``"LiteLLM_SpendLogs"`` table, read directly when
  ``BENCHCTL_LITELLM_DATABASE_URL`` is set. The fast path: a server-side cursor over a projection
  that extracts the few metadata fields needed, and a cheap first pass (``versions_into``) that
  tells which rows of the window are new or changed, so collecting a window again reads little.
- ``ApiSource``: the proxy's ``/spend/logs/v2``, paged by offset (see
  ``LiteLLMClient.spend_logs_v2`` for its limits). It returns neither ``updated_at`` nor content.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.rows import tuple_row

from benchctl.collect.spend_row import SpendRow, from_api
from benchctl.db.connection import Connection
from benchctl.db.queries import query
from benchctl.errors import DatabaseError
from benchctl.litellm.client import LiteLLMClient
from benchctl.settings import database_problem, redact_dsn

# Query parameters of Prisma's connection URLs that libpq does not know.
_PRISMA_ONLY = frozenset(
    {"schema", "connection_limit", "pool_timeout", "pgbouncer", "statement_cache_size",
     "socket_timeout", "sslaccept", "sslidentity", "sslpassword"}
)  # fmt: skip
# Request ids per lookup query when only some rows of a window need reading.
_IDS_PER_QUERY = 10_000


def libpq_url(url: str) -> str:
    """LiteLLM's ``DATABASE_URL`` as libpq takes it: Prisma's own parameters dropped, its
    ``schema`` turned into a search path."""
    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in params if k not in _PRISMA_ONLY]
    schema = dict(params).get("schema")
    if schema:
        kept.append(("options", f"-c search_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(kept)))


class DatabaseSource:
    name = "database"

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self._conn: psycopg.Connection[tuple[Any, ...]] = psycopg.connect(
                libpq_url(url),
                row_factory=tuple_row,
                application_name="benchctl-collect",
                options="-c TimeZone=UTC",
            )
        except psycopg.Error as exc:
            raise DatabaseError(
                f"cannot connect to LiteLLM's database at {redact_dsn(url)}"
                f" ({database_problem(exc)}). Check BENCHCTL_LITELLM_DATABASE_URL (the proxy's"
                " DATABASE_URL), or unset it to collect through the proxy's API."
            ) from None
        self._conn.read_only = True

    def close(self) -> None:
        self._conn.close()

    def versions_into(self, target: Connection, since: datetime) -> None:
        """Copy (request_id, startTime, updated_at) of the window into the benchmark database's
        ``collect_seen``: the bytes of one binary COPY piped into another, never parsed."""
        out = query("collect.copy_out_binary").format(select=query("collect.litellm_versions"))
        into = query("collect.copy_seen")
        try:
            with (
                self._conn.cursor().copy(out, {"since": since}) as reader,
                target.cursor().copy(into) as writer,
            ):
                for data in reader:
                    writer.write(data)
        except psycopg.errors.UndefinedTable:
            raise DatabaseError(_NO_TABLE.format(url=redact_dsn(self.url))) from None
        finally:
            self._conn.rollback()

    def rows(
        self,
        since: datetime,
        *,
        ids: Sequence[str] | None,
        capture_keys: Sequence[str],
        capture_aliases: Sequence[str],
        batch_size: int,
    ) -> Iterator[list[SpendRow]]:
        """Rows of the window in batches; only those in ``ids`` when given."""
        chunks: Sequence[Sequence[str] | None] = (
            [None] if ids is None
            else [ids[i : i + _IDS_PER_QUERY] for i in range(0, len(ids), _IDS_PER_QUERY)]
        )  # fmt: skip
        for chunk in chunks:
            params = {
                "since": since,
                "ids": None if chunk is None else list(chunk),
                "capture_keys": list(capture_keys),
                "capture_aliases": list(capture_aliases),
            }
            try:
                with (
                    self._conn.transaction(),
                    self._conn.cursor(name="benchctl_collect", binary=True) as cur,
                ):
                    cur.itersize = batch_size
                    cur.execute(query("collect.litellm_rows"), params)
                    while batch := cur.fetchmany(batch_size):
                        yield [SpendRow._make(row) for row in batch]
            except psycopg.errors.UndefinedTable:
                raise DatabaseError(_NO_TABLE.format(url=redact_dsn(self.url))) from None


class ApiSource:
    name = "api"

    def __init__(self, client: LiteLLMClient) -> None:
        self.client = client

    def close(self) -> None:
        self.client.close()

    def rows(self, since: datetime, *, until: datetime) -> Iterator[list[SpendRow]]:
        # The endpoint reads whole seconds: start at the second, so nothing is cut off.
        start = since.replace(microsecond=0)
        end = until + timedelta(seconds=1)
        for page in self.client.spend_logs_v2(start=start, end=end):
            yield [row for row in map(from_api, page) if row.started_at >= since]


_NO_TABLE = (
    'LiteLLM\'s database at {url} has no "LiteLLM_SpendLogs" table: is'
    " BENCHCTL_LITELLM_DATABASE_URL the proxy's DATABASE_URL, and has the proxy started once?"
)
