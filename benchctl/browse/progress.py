"""A headless run's progress, read from the database alone: every runner, on any host, records
its attempts and their steps there, so whoever watches needs no access to the runners."""

from __future__ import annotations

from benchctl.browse.models import FinishedAttempt, Progress, RunningAttempt
from benchctl.db.connection import Connection
from benchctl.db.queries import query
from benchctl.report.data import require_experiment

RECENT = 10


def progress(conn: Connection, experiment: str) -> Progress:
    """Where the experiment's headless sessions stand; a UsageError if it is unknown."""
    require_experiment(conn, experiment)
    return snapshot(conn, experiment)


def snapshot(conn: Connection, experiment: str) -> Progress:
    """``progress`` of an experiment known to exist: what a stream asks every second."""
    params = {"experiment": experiment, "limit": RECENT}
    counts = conn.execute(query("browse.progress"), params).fetchone()
    assert counts is not None
    running = [RunningAttempt(**r) for r in conn.execute(query("browse.running"), params)]
    return Progress(
        experiment=experiment,
        **counts,
        done=counts["pending"] == 0 and not running,
        running=running,
        finished=[FinishedAttempt(**r) for r in conn.execute(query("browse.finished"), params)],
    )
