"""Named points where tests kill apply or collect, to prove that every interruption converges.

``BENCHCTL_FAILPOINT=open.key_created`` makes the process SIGKILL itself on reaching that point:
no cleanup, no ``finally``, exactly like a crash or ``kill -9``. Unset, a failpoint costs one
dictionary lookup.
"""

from __future__ import annotations

import os
import signal

POINTS = (
    "apply.started",
    "objects.applied",
    "open.row_inserted",
    "open.old_key_deleted",
    "open.key_created",
    "open.env_written",
    "open.recorded",
    "end.marked",
    "end.key_deleted",
    "end.recorded",
    "rekey.forgotten",
    "rekey.old_key_deleted",
    "rekey.key_created",
    "rekey.env_written",
    "rekey.recorded",
    "rotate.key_created",
    "rotate.env_written",
    "rotate.recorded",
    # benchctl run: a lease, the task's setup, the attempt's own key, the harness, the verifier,
    # the ending (end.*), and the gap before the next lease.
    "run.leased",
    "run.set_up",
    "run.key_created",
    "run.env_written",
    "run.recorded",
    "run.harness_done",
    "run.verified",
    "run.finished",
    "collect.batch_copied",
    "collect.batch_merged",
    "collect.batch_committed",
)


def reached(point: str) -> None:
    if point not in POINTS:  # a typo would silently never fire; docs list POINTS
        raise ValueError(f"unknown failpoint {point!r}")
    if os.environ.get("BENCHCTL_FAILPOINT") == point:
        os.kill(os.getpid(), signal.SIGKILL)
