"""Ending a session, the same steps whoever ends it (apply, or `benchctl run`): mark it ending
with its outcome, delete its key, remove its env file, mark it ended. A crash between steps
leaves a `finalizing`/`aborting` row the next plan resumes from."""

from __future__ import annotations

from dataclasses import dataclass

from benchctl.db.connection import Connection
from benchctl.db.queries import query
from benchctl.litellm.client import LiteLLMClient
from benchctl.reconcile import failpoints
from benchctl.reconcile.envfile import env_path
from benchctl.settings import Settings


@dataclass(frozen=True)
class Ending:
    session_id: str
    key_alias: str
    finalize: bool
    outcome: str | None = None
    source: str | None = None
    notes: str | None = None
    verification_id: int | None = None


def end_session(
    conn: Connection, client: LiteLLMClient, settings: Settings, ending: Ending
) -> None:
    conn.execute(
        query("sessions.mark_ending"),
        {
            "id": ending.session_id,
            "status": "finalizing" if ending.finalize else "aborting",
            "outcome": ending.outcome if ending.finalize else None,
            "source": ending.source if ending.finalize else None,
            "notes": ending.notes,
            "verification_id": ending.verification_id,
        },
    )
    failpoints.reached("end.marked")
    client.delete_keys(aliases=[ending.key_alias])
    failpoints.reached("end.key_deleted")
    env_path(settings.sessions_dir, ending.session_id).unlink(missing_ok=True)
    conn.execute(
        query("sessions.mark_ended"),
        {"id": ending.session_id, "status": "finalized" if ending.finalize else "aborted"},
    )
    failpoints.reached("end.recorded")
