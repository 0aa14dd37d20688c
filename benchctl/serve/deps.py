"""What routes are given: a pooled read-only connection, the report cache, the server's
configuration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from psycopg_pool import ConnectionPool

from benchctl.browse.experiments import Reports
from benchctl.db.connection import Connection
from benchctl.serve.config import ServeConfig

API = "/api/v1"


def connection(request: Request) -> Iterator[Connection]:
    """A pooled read-only connection for one request."""
    pool: ConnectionPool[Connection] = request.app.state.pool
    with pool.connection() as conn:
        yield conn


Db = Annotated[Connection, Depends(connection)]


def reports(request: Request) -> Reports:
    found: Reports = request.app.state.reports
    return found


def config(request: Request) -> ServeConfig:
    found: ServeConfig = request.app.state.config
    return found


ReportCache = Annotated[Reports, Depends(reports)]
Config = Annotated[ServeConfig, Depends(config)]
