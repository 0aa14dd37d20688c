"""Sessions as the viewer and the API show them: filtered pages of them, and one in full.

The figures are the report's own (the ``session_rollups`` view), restricted to the sessions of
one page before anything is aggregated, so a page costs its own sessions' calls whatever the
size of the database.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from benchctl.browse.models import (
    Attempt,
    CapturedContent,
    OutcomeSource,
    RequestRow,
    SessionDetail,
    SessionList,
    SessionRow,
    SessionStatus,
    Verification,
)
from benchctl.db.connection import Connection
from benchctl.db.queries import query

MAX_LIMIT = 500
_NAME = Field(default=None, min_length=1, max_length=200)


class SessionFilter(BaseModel):
    """Which sessions to list: every filter left out matches all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment: str | None = _NAME
    variant: str | None = _NAME
    task_card: str | None = _NAME
    status: SessionStatus | None = None
    outcome: Literal["success", "partial", "failure", "none"] | None = Field(
        default=None, description="The recorded outcome; `none`: sessions without one."
    )
    outcome_source: OutcomeSource | Literal["none"] | None = Field(
        default=None, description="Where the outcome came from; `none`: no outcome yet."
    )
    headless: bool | None = Field(default=None, description="Run by `benchctl run` or not.")
    since: AwareDatetime | None = Field(
        default=None, description="Opened at or after this time (ISO 8601 with a time zone)."
    )
    until: AwareDatetime | None = Field(
        default=None, description="Opened before this time (ISO 8601 with a time zone)."
    )
    limit: int = Field(default=50, ge=1, le=MAX_LIMIT, description="Sessions per page.")
    offset: int = Field(default=0, ge=0, le=10_000_000, description="Sessions to skip.")

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("`since` must be earlier than `until`")
        return self

    def params(self) -> dict[str, object]:
        return self.model_dump()

    def page(self, offset: int) -> dict[str, str]:
        """Query parameters of the same filters at another offset (for page links)."""
        values = {
            **self.model_dump(mode="json", exclude_none=True, exclude_defaults=True),
            "offset": offset,
        }
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in values.items()}


def _session_row(row: dict[str, object]) -> SessionRow:
    """The figures of a browse.session_rows row (which also holds the session's record)."""
    return SessionRow.model_validate({k: row[k] for k in SessionRow.model_fields})


def _rows(conn: Connection, ids: list[str]) -> list[SessionRow]:
    if not ids:
        return []
    rows = conn.execute(query("browse.session_rows"), {"ids": ids}).fetchall()
    return [_session_row(row) for row in rows]


def session_calls(conn: Connection, session_id: str) -> list[RequestRow] | None:
    """The session's calls in the order they started; None if there is no such session."""
    if conn.execute(query("browse.session_exists"), {"id": session_id}).fetchone() is None:
        return None
    return _calls(conn, session_id)


def _calls(conn: Connection, session_id: str) -> list[RequestRow]:
    rows = conn.execute(query("browse.requests"), {"id": session_id}).fetchall()
    return [RequestRow(**row) for row in rows]


def list_sessions(conn: Connection, wanted: SessionFilter) -> SessionList:
    page = conn.execute(query("browse.session_page"), wanted.params()).fetchall()
    if page:
        total = page[0]["total"]
    else:
        # Past the last page, say how many there are rather than pretend there are none.
        first = conn.execute(
            query("browse.session_page"), {**wanted.params(), "limit": 1, "offset": 0}
        ).fetchone()
        total = first["total"] if first else 0
    return SessionList(
        total=total,
        limit=wanted.limit,
        offset=wanted.offset,
        sessions=_rows(conn, [row["session_id"] for row in page]),
    )


def find_session(conn: Connection, session_id: str, *, content: bool) -> SessionDetail | None:
    """The session in full; None if there is no such session. ``content`` adds the captured
    prompts and responses."""
    found = conn.execute(query("browse.session_rows"), {"ids": [session_id]}).fetchone()
    if found is None:
        return None
    params = {"id": session_id}
    return SessionDetail(
        session=_session_row(found),
        notes=found["notes"],
        key_alias=found["key_alias"],
        budget_usd=found["budget_usd"],
        manifest_commit=found["manifest_commit"],
        manifest_dirty=found["manifest_dirty"],
        operator=found["operator"],
        requests=_calls(conn, session_id),
        attempts=[
            Attempt(**row) for row in conn.execute(query("browse.attempts"), params).fetchall()
        ],
        verifications=[
            Verification(**row)
            for row in conn.execute(query("browse.verifications"), params).fetchall()
        ],
        content=[
            CapturedContent(**row)
            for row in conn.execute(query("browse.content"), params).fetchall()
        ]
        if content
        else None,
    )
