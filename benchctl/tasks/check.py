"""``task check``: is each task card sound before money is spent on it?

In a fresh workspace: setup succeeds; the verifier does not pass the untouched workspace (the
task is not already solved); it passes after the oracle; and verifying the oracle's result again
gives the same reward every time (a flaky verifier would make every comparison noise).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchctl.errors import TaskError
from benchctl.tasks.oracle import apply_oracle
from benchctl.tasks.process import Finished
from benchctl.tasks.verify import Verification, verify
from benchctl.tasks.workspace import Task, prepare, setup

# How much of a failed step's log a problem quotes.
_LOG_QUOTE = 600


@dataclass
class TaskCheck:
    task: str
    problems: list[str] = field(default_factory=list)
    # What the check could not prove, without the task being broken (a task without oracle).
    warnings: list[str] = field(default_factory=list)
    untouched: Verification | None = None
    rewards: list[float | None] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def _tail(log: str) -> str:
    text = log.strip()
    return ("…" + text[-_LOG_QUOTE:]) if len(text) > _LOG_QUOTE else text


def _step_failed(name: str, done: Finished) -> str:
    how = "timed out" if done.timed_out else f"exited {done.exit_code}"
    return f"{name} {how}:\n{_tail(done.log)}" if done.log.strip() else f"{name} {how}"


def _verification_problem(when: str, found: Verification) -> str:
    return f"the verifier errored {when}: {found.error}\n{_tail(found.log)}"


def check_task(
    task: Task,
    *,
    repeat: int,
    sandbox: bool,
    hidden: Sequence[Path] = (),
    progress: Callable[[str], None] = lambda _: None,
) -> TaskCheck:
    result = TaskCheck(task.name)
    spec = task.card.spec
    if spec.verify is None:
        result.problems.append("no verify: nothing can score this task's sessions")
        return result
    threshold = spec.verify.pass_threshold
    with tempfile.TemporaryDirectory(prefix=f"benchctl-check-{task.name}-") as scratch_name:
        scratch = Path(scratch_name)
        workspace = scratch / "workspace"
        progress("workspace")
        try:
            prepare(task, workspace, sandbox=sandbox)
        except TaskError as exc:
            result.problems.append(str(exc))
            return result
        progress("setup")
        done = setup(task, workspace, scratch, sandbox=sandbox, hidden=hidden)
        if done is not None and done.exit_code != 0:
            result.problems.append(_step_failed("setup", done))
            return result
        progress("verify untouched")
        untouched = result.untouched = verify(task, workspace, sandbox=sandbox, hidden=hidden)
        if untouched.status == "error":
            result.problems.append(_verification_problem("on the untouched workspace", untouched))
            return result
        if untouched.reward is not None and untouched.reward >= threshold:
            result.problems.append(
                f"already solved: the untouched workspace scores {untouched.reward:g}"
                f" (pass threshold {threshold:g}); the verifier does not test the task"
            )
        if spec.oracle is None:
            result.warnings.append(
                "unproven: no oracle shows the task can be solved; add spec.oracle (a patch or"
                " a script) so `task check` can prove it"
            )
            return result
        progress("oracle")
        done = apply_oracle(task, workspace, scratch, sandbox=sandbox, hidden=hidden)
        if done.exit_code != 0:
            result.problems.append(_step_failed("the oracle", done))
            return result
        for attempt in range(1, repeat + 1):
            progress(f"verify oracle {attempt}/{repeat}")
            found = verify(task, workspace, sandbox=sandbox, hidden=hidden)
            result.rewards.append(found.reward)
            if found.status == "error":
                result.problems.append(_verification_problem("after the oracle", found))
                return result
        first = result.rewards[0]
        if first is not None and first < threshold:
            result.problems.append(
                f"the oracle does not pass: it scores {first:g} (pass threshold {threshold:g})"
            )
        if len(set(result.rewards)) > 1:
            shown = ", ".join(f"{r:g}" for r in result.rewards if r is not None)
            result.problems.append(
                f"flaky verifier: {repeat} verifications of the same workspace gave {shown}"
            )
    return result
