"""``session verify``: score an interactive session's workspace with its task card's verifier,
and record what it measured.

The verifier is the one of the task card *version* the session opened with; its hidden tests
are read from the checkout, so they must still hash as they did then. The operator's working
copy is verified in a scratch copy: a verifier cannot change or litter it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from benchctl.db.connection import Connection, connect
from benchctl.db.queries import query
from benchctl.errors import TaskError, UsageError
from benchctl.manifests.models import TaskCard
from benchctl.reconcile.provenance import operator
from benchctl.reconcile.sessions import find
from benchctl.settings import STATE_DIR, Settings
from benchctl.tasks.files import tree_hash
from benchctl.tasks.verify import Verification, verify
from benchctl.tasks.workspace import Task


@dataclass(frozen=True)
class SessionVerification:
    session: dict[str, Any]
    verification: Verification
    verification_id: int


def _task(root: Path, row: dict[str, Any], version: dict[str, Any]) -> Task:
    card = TaskCard.model_validate(version["spec"])
    label = f"task card {row['task_card']} v{row['task_card_version']}"
    if card.spec.verify is None:
        raise UsageError(
            f"{label} has no verify, so session {row['id'][:8]} can only be finalized with a"
            " self-reported --outcome."
        )
    expected = version["comparable"].get("files.tests")
    if card.spec.verify.tests is not None:
        folder = root / card.spec.verify.tests
        if not folder.is_dir():
            raise TaskError(
                f"{label}'s hidden tests {card.spec.verify.tests} are not in {root}: run from"
                " the benchmark repository's root or pass --root."
            )
        found = tree_hash(folder)
        if expected is not None and found != expected:
            raise TaskError(
                f"the hidden tests in {card.spec.verify.tests} changed since session"
                f" {row['id'][:8]} opened with {label}: verify from a checkout of the commit it"
                f" opened at ({row['manifest_commit'] or 'see `benchctl session show`'}), so the"
                " session is scored by the verifier it was meant for."
            )
    return Task(card, root)


def verify_session(
    settings: Settings,
    prefix: str,
    workspace: Path,
    *,
    sandbox: bool,
    hidden: Sequence[Path] = (),
) -> SessionVerification:
    if not workspace.is_dir():
        raise UsageError(f"--workspace {workspace} is not a folder.")
    with connect(settings, upgrade=True) as conn:
        row = find(conn, prefix)
        if row["status"] in ("aborted", "aborting", "opening"):
            raise UsageError(
                f"session {row['id'][:8]} is {row['status']}: there is nothing to verify."
            )
        task = session_task(conn, settings.root, row)
        with tempfile.TemporaryDirectory(prefix="benchctl-session-verify-") as scratch:
            copy = Path(scratch) / "workspace"
            # Never benchctl's state (session env files hold raw keys), should the working copy
            # hold a benchmark repository.
            shutil.copytree(
                workspace, copy, symlinks=True, ignore=shutil.ignore_patterns(STATE_DIR)
            )
            found = verify(task, copy, sandbox=sandbox, hidden=hidden)
        return SessionVerification(row, found, record(conn, row, found, workspace))


def session_task(conn: Connection, root: Path, row: dict[str, Any]) -> Task:
    """The task card version the session opened with, its folders read under ``root``."""
    version = conn.execute(
        query("sessions.task_card_version"),
        {"name": row["task_card"], "version": row["task_card_version"]},
    ).fetchone()
    assert version is not None  # a foreign key keeps it
    return _task(root, row, version)


def record(conn: Connection, row: dict[str, Any], found: Verification, workspace: Path) -> int:
    """Store what the verifier measured for the session; the verification's id."""
    stored = conn.execute(
        query("sessions.record_verification"),
        {
            "session_id": row["id"],
            "task_card": row["task_card"],
            "task_card_version": row["task_card_version"],
            "status": found.status,
            "reward": found.reward,
            "outcome": found.outcome,
            "subscores": Jsonb(found.subscores),
            "reward_source": found.reward_source,
            "checks": Jsonb([{"name": c.name, "status": c.status} for c in found.checks]),
            "passed": found.passed,
            "failed": found.failed,
            "tests_hash": found.tests_hash,
            "exit_code": found.exit_code,
            "timed_out": found.timed_out,
            "duration_ms": round(found.seconds * 1000),
            "sandbox": found.sandbox,
            "error": found.error,
            "log": found.log.replace("\x00", ""),
            "workspace": str(workspace.resolve()),
            "operator": operator(),
        },
    ).fetchone()
    assert stored is not None
    return int(stored["id"])


def latest(settings: Settings, session_id: str) -> dict[str, Any] | None:
    with connect(settings, upgrade=False) as conn:
        row: dict[str, Any] | None = conn.execute(
            query("sessions.latest_verification"), {"id": session_id}
        ).fetchone()
        return row
