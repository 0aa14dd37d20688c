"""One apply at a time: the state lock, with who holds it, since when, and for what."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from benchctl.db.connection import Connection
from benchctl.db.queries import query
from benchctl.errors import LockError
from benchctl.reconcile.provenance import holder as this_holder

POLL_SECONDS = 0.25


@dataclass(frozen=True)
class LockHolder:
    backend_pid: int
    holder: str | None
    operation: str | None
    acquired_at: datetime | None

    def describe(self) -> str:
        if self.holder is None:
            return f"database backend {self.backend_pid} (no holder recorded)"
        when = f"{self.acquired_at:%Y-%m-%d %H:%M:%S %Z}" if self.acquired_at else "unknown time"
        return f"{self.holder}, running `{self.operation}` since {when}"


def current_holder(conn: Connection) -> LockHolder | None:
    row = conn.execute(query("lock.holder")).fetchone()
    return LockHolder(**row) if row else None


@contextmanager
def state_lock(conn: Connection, operation: str, timeout_seconds: float) -> Iterator[None]:
    """Hold the state lock for the block; wait up to ``timeout_seconds``, then name the holder."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        row = conn.execute(query("lock.try")).fetchone()
        if row and row["acquired"]:
            break
        if time.monotonic() >= deadline:
            found = current_holder(conn)
            who = found.describe() if found else "a process that has just released it"
            raise LockError(
                f"the benchmark state is locked by {who}. Wait for it to finish, retry with"
                " --lock-timeout 5m to wait, or, if that process is gone for good, run"
                " `benchctl force-unlock`."
            )
        time.sleep(POLL_SECONDS)
    try:
        conn.execute(query("lock.record"), {"holder": this_holder(), "operation": operation})
        yield
    finally:
        conn.execute(query("lock.clear"))
        conn.execute(query("lock.release"))


def force_unlock(conn: Connection) -> LockHolder | None:
    """End the holder's database session, which releases its lock; return who it was."""
    found = current_holder(conn)
    if found is not None:
        conn.execute(query("lock.terminate"), {"pid": found.backend_pid})
    return found
