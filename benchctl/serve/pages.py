"""The web viewer: server-rendered pages over the same core as the API.

experiments -> an experiment's comparison (the report, its charts) -> its sessions (filtered,
paged) -> a session (its calls on a time line, attempts and run logs, verifier results). Plain
HTML and one stylesheet; the only script makes the live page live, and the page works without
it. Nothing is loaded from anywhere else.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from pydantic import ValidationError

from benchctl import __version__
from benchctl.browse import experiments, progress, sessions
from benchctl.browse.sessions import SessionFilter
from benchctl.report import timeline, units
from benchctl.report.data import require_experiment
from benchctl.serve import security
from benchctl.serve.deps import Config, Db, ReportCache

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=FilePath(__file__).parent / "templates")
ExperimentName = Annotated[str, Path(min_length=1, max_length=63)]
# A token and where to go next: anything larger is not our form.
MAX_FORM = 4096


def _when(value: datetime | None) -> str:
    return units.DASH if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(value: float | None) -> str:
    return units.DASH if value is None else f"{units.sig(value)} s"


templates.env.filters.update(
    usd=units.usd,
    number=units.number,
    percent=units.percent,
    count=units.count,
    when=_when,
    seconds=_seconds,
    relative=units.relative,
    points=units.points,
)
templates.env.filters["pair"] = lambda value: (value, value)  # a <select>'s (value, text)
templates.env.globals.update(version=__version__)


def page(request: Request, template: str, code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=code)


def problem(request: Request, status: int, message: str) -> Response:
    """An error as a page: what went wrong, in the server's words."""
    if status == 401:
        return page(request, "login.html", 401, message=message, next=request.url.path)
    return page(request, "problem.html", status, status=status, message=message)


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/", response_class=HTMLResponse)
def home(request: Request, conn: Db, reports: ReportCache) -> Response:
    return page(
        request, "experiments.html", experiments=experiments.list_experiments(conn, reports)
    )


@router.get("/experiments/{name}", response_class=HTMLResponse)
def comparison(request: Request, name: ExperimentName, conn: Db, reports: ReportCache) -> Response:
    detail = experiments.find_experiment(conn, reports, name)
    rendered = reports.get(conn, name)
    charts = [
        (chart, Markup(rendered.charts[chart.path.removeprefix("charts/")]))  # noqa: S704 our SVG
        for chart in rendered.report.charts
    ]
    report = rendered.report
    cards = list(
        dict.fromkeys([*(c.name for c in detail.task_cards), *(t.task_card for t in report.tasks)])
    )
    return page(
        request,
        "experiment.html",
        detail=detail,
        report=report,
        charts=charts,
        cards=cards,
        grid={(t.label, t.task_card): t for t in report.tasks},
        titles={s.metric: s.title for s in report.summary},
    )


def _filters(request: Request, name: str) -> SessionFilter:
    """The page's filters: the query string, with the experiment the path names; empty form
    fields mean no filter."""
    values = {k: v for k, v in request.query_params.items() if v != ""}
    values["experiment"] = name
    try:
        return SessionFilter.model_validate(values)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


@router.get("/experiments/{name}/sessions", response_class=HTMLResponse)
def session_list(
    request: Request,
    name: ExperimentName,
    conn: Db,
    wanted: Annotated[SessionFilter, Depends(_filters)],
) -> Response:
    # The experiment as applied, not its report: a page of sessions never waits for one.
    experiment = require_experiment(conn, name)
    found = sessions.list_sessions(conn, wanted)
    base = f"/experiments/{name}/sessions?"
    previous = max(0, wanted.offset - wanted.limit)
    following = wanted.offset + wanted.limit
    return page(
        request,
        "sessions.html",
        experiment=experiment,
        found=found,
        wanted=wanted,
        previous=base + urlencode(wanted.page(previous)) if wanted.offset else None,
        following=base + urlencode(wanted.page(following)) if following < found.total else None,
    )


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
def session_page(
    request: Request, session_id: Annotated[uuid.UUID, Path()], conn: Db, config: Config
) -> Response:
    found = sessions.find_session(conn, str(session_id), content=config.show_content)
    if found is None:
        raise HTTPException(404, f"no session {session_id}")
    return page(
        request,
        "session.html",
        detail=found,
        s=found.session,
        timeline=Markup(timeline.render(found.requests)),  # noqa: S704 our SVG, escaped
        origin=found.requests[0].started_at if found.requests else None,
    )


@router.get("/experiments/{name}/live", response_class=HTMLResponse)
def live(request: Request, name: ExperimentName, conn: Db) -> Response:
    return page(request, "live.html", name=name, progress=progress.progress(conn, name))


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: Annotated[str, Query(max_length=500)] = "/") -> Response:
    return page(request, "login.html", message=None, next=next)


def _local(target: str) -> str:
    """Only a path on this server: never an open redirect."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, config: Config) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return problem(request, 400, "the sign-in form is too large")
    try:
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
    except ValueError:
        return problem(request, 400, "the sign-in form has too many fields")
    offered = form.get("token", [""])[0]
    target = _local(form.get("next", ["/"])[0])
    if config.token is None:
        return RedirectResponse(target, status_code=303)
    if not security.token_matches(config.token, offered):
        return page(request, "login.html", 401, message="That is not the token.", next=target)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        security.COOKIE,
        security.cookie_value(config.token),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response
