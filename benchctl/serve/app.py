"""The ASGI application: the API under ``/api/v1``, the viewer's pages, one pool of read-only
connections, and errors answered in the form each path expects."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from starlette.exceptions import HTTPException

from benchctl import __version__
from benchctl.browse import experiments
from benchctl.browse.experiments import Reports
from benchctl.db.connection import BenchConnection, Connection, connect, database_url
from benchctl.errors import DatabaseError, UsageError
from benchctl.serve import security
from benchctl.serve.config import ServeConfig
from benchctl.serve.deps import API
from benchctl.settings import redact_dsn

log = logging.getLogger("benchctl.serve")
HERE = Path(__file__).parent
# Read-only by design: the server cannot change a row, whatever a bug in it would ask.
SESSION_OPTIONS = "-c default_transaction_read_only=on -c statement_timeout=30000"


def _problem(errors: list[dict[str, Any]]) -> str:
    """A validation failure in one sentence per parameter, as a user typed it."""
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "path"))
        if error.get("type") == "extra_forbidden":
            parts.append(f"unknown parameter `{where}`")
        else:
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            parts.append(f"`{where}`: {message}" if where else message)
    return "; ".join(parts) or "invalid request"


def is_api(request: Request) -> bool:
    return request.url.path.startswith((API, "/healthz"))


def check_database(config: ServeConfig) -> str:
    """The database's URL, once it answers at the current schema: the embedded one is brought
    up to date, a server behind says to run `benchctl db upgrade` (a DatabaseError)."""
    connect(config.settings, upgrade=False).close()
    return database_url(config.settings)


def _warm(pool: ConnectionPool[Connection], reports: Reports) -> None:
    try:
        with pool.connection() as conn:
            experiments.warm(conn, reports)
    except Exception:  # a page builds what warming could not; the log says why
        log.exception("building the reports ahead of the first visitor failed")


def create_app(config: ServeConfig) -> FastAPI:
    from benchctl.serve import api, pages

    # The pool connects when the server starts (``lifespan``): building the app, for its
    # OpenAPI document say, needs no database.
    pool: ConnectionPool[Connection] = ConnectionPool(
        "",
        connection_class=BenchConnection,
        kwargs={
            "row_factory": dict_row,
            "autocommit": True,
            "options": SESSION_OPTIONS,
            "application_name": "benchctl-serve",
        },
        min_size=1,
        max_size=8,
        open=False,
        name="benchctl-serve",
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool.conninfo = check_database(config)
        pool.open(wait=True, timeout=30)
        if config.warm:
            threading.Thread(target=_warm, args=(pool, app.state.reports), daemon=True).start()
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(
        title="benchctl",
        version=__version__,
        summary="Read-only API over a benchctl benchmark database.",
        description=(
            "Experiments and their reports (the same figures and field names as `report.json`),"
            " sessions with their calls, attempts and verifier results, and the live progress"
            " of headless runs. Read-only: benchmarks change through pull requests and"
            " `benchctl plan`/`apply`, runs through `benchctl run`. Off loopback every request"
            " needs `Authorization: Bearer <BENCHCTL_SERVE_TOKEN>`."
        ),
        # Swagger UI and ReDoc load from CDNs; the document itself is served and committed.
        docs_url=None,
        redoc_url=None,
        openapi_url=f"{API}/openapi.json",
        lifespan=lifespan,
    )

    def document() -> dict[str, Any]:
        # Bad parameters are answered 400 (the handler below), never FastAPI's 422.
        if app.openapi_schema is None:
            found = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            for operations in found["paths"].values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            schemas = found.get("components", {}).get("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            app.openapi_schema = found
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
    app.state.config = config
    app.state.pool = pool
    app.state.reports = Reports()

    def refuse(request: Request, status: int, message: str) -> Response:
        if is_api(request):
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return JSONResponse({"detail": message}, status_code=status, headers=headers)
        return pages.problem(request, status, message)

    app.middleware("http")(security.guard(config, refuse))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return refuse(request, 400, _problem(list(exc.errors())))

    @app.exception_handler(UsageError)
    async def unknown(request: Request, exc: UsageError) -> Response:
        return refuse(request, 404, str(exc))

    @app.exception_handler(DatabaseError)
    async def database(request: Request, exc: DatabaseError) -> Response:
        log.error("database: %s", redact_dsn(str(exc)))
        return refuse(request, 503, str(exc))

    @app.exception_handler(HTTPException)
    async def http(request: Request, exc: HTTPException) -> Response:
        return refuse(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s", request.url.path)
        return refuse(request, 500, "internal error; the server's log has the details")

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router, prefix=API)
    app.include_router(pages.router)
    return app
