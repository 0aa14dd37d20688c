"""The JSON API, under ``/api/v1``: every route reads, none writes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

from benchctl.browse import experiments, progress, sessions
from benchctl.browse.models import (
    ExperimentDetail,
    Experiments,
    Progress,
    SessionDetail,
    SessionList,
)
from benchctl.browse.sessions import SessionFilter
from benchctl.db.connection import Connection
from benchctl.report import timeline
from benchctl.report.data import require_experiment
from benchctl.report.model import Report
from benchctl.serve.deps import Config, Db, ReportCache


class Problem(BaseModel):
    """Why a request was refused, in a sentence."""

    detail: str


router = APIRouter(
    responses={
        400: {"model": Problem, "description": "A parameter is invalid or unknown."},
        401: {"model": Problem, "description": "The server needs its token (off loopback)."},
        404: {"model": Problem, "description": "No such experiment, session or chart."},
        503: {"model": Problem, "description": "The benchmark database cannot be reached."},
    }
)
SVG = "image/svg+xml"
ExperimentName = Annotated[
    str, Path(min_length=1, max_length=63, description="The experiment's metadata.name.")
]
SessionId = Annotated[uuid.UUID, Path(description="The session's id (a UUID).")]
_SVG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {SVG: {}}, "description": "An SVG image."}
}


@router.get("/experiments", tags=["experiments"])
def list_experiments(conn: Db, reports: ReportCache) -> Experiments:
    """Every experiment applied, with its sessions counted and its current verdicts."""
    return Experiments(experiments=experiments.list_experiments(conn, reports))


@router.get("/experiments/{name}", tags=["experiments"])
def get_experiment(name: ExperimentName, conn: Db, reports: ReportCache) -> ExperimentDetail:
    """The experiment with its verdicts, and its variants and task cards as applied."""
    return experiments.find_experiment(conn, reports, name)


@router.get(
    "/experiments/{name}/report",
    tags=["experiments"],
    response_model=Report,
    responses={200: {"description": "The experiment's `report.json`, byte for byte."}},
)
def get_report(name: ExperimentName, conn: Db, reports: ReportCache) -> Response:
    """The report `benchctl report` writes as `report.json`: rollups per variant and per
    variant x task card, comparisons with the baseline, verdicts, attrition, caveats
    (`format_version` says which shape)."""
    return Response(reports.get(conn, name).json, media_type="application/json")


@router.get(
    "/experiments/{name}/charts/{chart}",
    tags=["experiments"],
    response_class=Response,
    responses=_SVG_RESPONSE,
)
def get_chart(
    name: ExperimentName,
    chart: Annotated[str, Path(max_length=100, description="A chart's file, e.g. latency.svg.")],
    conn: Db,
    reports: ReportCache,
) -> Response:
    """One of the report's charts, the same SVG as in `charts/`."""
    found = reports.get(conn, name).charts.get(chart)
    if found is None:
        raise HTTPException(404, f"experiment {name!r} has no chart {chart!r}")
    return Response(found, media_type=SVG)


@router.get("/experiments/{name}/progress", tags=["runs"])
def get_progress(name: ExperimentName, conn: Db) -> Progress:
    """Where the experiment's headless sessions stand now, and what each running attempt is
    doing (set up, harness, verify), read from the database."""
    return progress.progress(conn, name)


def _known(name: ExperimentName, request: Request) -> str:
    """The experiment named by the path, checked before a stream starts (an unknown one is a
    404, not an event); the connection goes back to the pool at once."""
    pool: ConnectionPool[Connection] = request.app.state.pool
    with pool.connection() as conn:
        require_experiment(conn, name)
    return name


@router.get(
    "/experiments/{name}/progress/stream", tags=["runs"], response_class=EventSourceResponse
)
async def stream_progress(
    name: Annotated[str, Depends(_known)], request: Request, config: Config
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: a `progress` event (a Progress object) whenever the run moves, and
    a last `done` event when nothing is left to run, then the stream ends."""
    pool: ConnectionPool[Connection] = request.app.state.pool

    def look() -> Progress:
        with pool.connection() as watching:
            return progress.snapshot(watching, name)  # _known checked it exists

    last: Progress | None = None
    while True:
        now = await anyio.to_thread.run_sync(look)
        if now != last:
            yield ServerSentEvent(event="progress", data=now.model_dump(mode="json"))
            last = now
        if now.done:
            yield ServerSentEvent(event="done", data={"experiment": name})
            return
        await anyio.sleep(config.poll_s)


@router.get("/sessions", tags=["sessions"])
def list_sessions(conn: Db, wanted: Annotated[SessionFilter, Query()]) -> SessionList:
    """Sessions matching the filters, in report order (experiment, variant, task card,
    replicate), a page at a time, with the report's per-session figures."""
    return sessions.list_sessions(conn, wanted)


@router.get("/sessions/{session_id}", tags=["sessions"])
def get_session(session_id: SessionId, conn: Db, config: Config) -> SessionDetail:
    """One session: its figures, every call (its timeline), every attempt with its run log, and
    every verifier run with its checks."""
    found = sessions.find_session(conn, str(session_id), content=config.show_content)
    if found is None:
        raise HTTPException(404, f"no session {session_id}")
    return found


@router.get(
    "/sessions/{session_id}/timeline.svg",
    tags=["sessions"],
    response_class=Response,
    responses=_SVG_RESPONSE,
)
def get_timeline(session_id: SessionId, conn: Db) -> Response:
    """The session's calls on a time line (SVG)."""
    calls = sessions.session_calls(conn, str(session_id))
    if calls is None:
        raise HTTPException(404, f"no session {session_id}")
    return Response(timeline.render(calls), media_type=SVG)
