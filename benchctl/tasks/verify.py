"""Score an attempt: the task's verifier, run on the workspace after the agent finished.

The verifier's tests are copied in from the task's folder only now, outside the workspace, and
its output folder is created now: nothing the agent wrote before can pass for the verifier's
reward. A verifier that times out, cannot start or writes a malformed reward file leaves the
attempt unscored (status ``error``), never failed: that is the verifier's fault, not the agent's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from benchctl.errors import TaskError
from benchctl.manifests.models.common import duration_seconds
from benchctl.tasks.files import copy_tree, tree_hash
from benchctl.tasks.process import Mount, run_step, step_env
from benchctl.tasks.results import Check, read_checks, read_reward
from benchctl.tasks.workspace import Task

Outcome = Literal["success", "partial", "failure"]
# The shell's own "cannot execute" and "command not found": the verifier never ran.
_NOT_RUN = frozenset({126, 127})


@dataclass(frozen=True)
class Verification:
    status: Literal["scored", "error"]
    reward: float | None
    outcome: Outcome | None
    subscores: dict[str, float]
    reward_source: str | None
    checks: list[Check]
    log: str
    exit_code: int | None
    timed_out: bool
    seconds: float
    sandbox: str
    tests_hash: str | None
    error: str | None = None

    @property
    def passed(self) -> int:
        return sum(1 for c in self.checks if c.status == "passed")

    @property
    def failed(self) -> int:
        return sum(1 for c in self.checks if c.status == "failed")


def outcome_of(reward: float, threshold: float) -> Outcome:
    if reward >= threshold:
        return "success"
    return "partial" if reward > 0 else "failure"


def verify(
    task: Task, workspace: Path, *, sandbox: bool, hidden: Sequence[Path] = ()
) -> Verification:
    """Run the task's verifier in ``workspace`` and read what it measured."""
    spec = task.card.spec.verify
    if spec is None:
        raise TaskError(
            f"task card {task.name} has no verify: its outcomes can only be self-reported."
        )
    with tempfile.TemporaryDirectory(prefix="benchctl-verify-") as scratch_name:
        scratch = Path(scratch_name)
        home, out = scratch / "home", scratch / "out"
        home.mkdir()
        out.mkdir()
        mounts = [Mount(out, "/logs/verifier", writable=True)]
        env = {
            "BENCHCTL_WORKSPACE": str(workspace),
            "BENCHCTL_VERIFIER_DIR": str(out),
        }
        digest = None
        if spec.tests is not None:
            source = task.path(spec.tests)
            digest = tree_hash(source)
            tests = copy_tree(source, scratch / "tests")
            env["BENCHCTL_TESTS_DIR"] = str(tests)
            mounts.append(Mount(tests, "/tests"))
        done = run_step(
            ["bash", "-c", spec.run],
            cwd=workspace,
            env=step_env(home, env),
            timeout=duration_seconds(spec.timeout),
            sandbox=sandbox,
            writable=[scratch],
            mounts=mounts,
            hidden=hidden,
        )
        error = None
        reward = None
        if done.timed_out:
            error = f"the verifier ran past its timeout of {spec.timeout} and was killed"
        else:
            try:
                reward = read_reward(out, done.exit_code or 0)
            except TaskError as exc:
                error = f"the verifier's reward file is not usable: {exc}"
            # Without a reward file, the shell's "cannot execute" or "not found" means the
            # verifier never ran. (A verifier that runs the agent's program should test for it
            # and exit 1 when it is missing, or the attempt is unscored rather than failed.)
            if reward is not None and reward.source == "exit-code" and done.exit_code in _NOT_RUN:
                reward = None
                error = f"the verifier could not run (exit {done.exit_code}): see its log"
        return Verification(
            status="error" if reward is None else "scored",
            reward=None if reward is None else reward.value,
            outcome=None if reward is None else outcome_of(reward.value, spec.pass_threshold),
            subscores={} if reward is None else reward.subscores,
            reward_source=None if reward is None else reward.source,
            checks=read_checks(out, done.log),
            log=done.log,
            exit_code=done.exit_code,
            timed_out=done.timed_out,
            seconds=done.seconds,
            sandbox=done.sandbox,
            tests_hash=digest,
            error=error,
        )
