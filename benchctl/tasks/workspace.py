"""A task's fresh workspace, and its setup step."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchctl.errors import TaskError
from benchctl.manifests.models.common import duration_seconds
from benchctl.manifests.models.task_card import TaskCard
from benchctl.tasks.files import copy_tree, resolve
from benchctl.tasks.process import Finished, run_step, step_env


@dataclass(frozen=True)
class Task:
    """A task card and the repository its folders are relative to."""

    card: TaskCard
    root: Path

    @property
    def name(self) -> str:
        return self.card.metadata.name

    def path(self, relative: str) -> Path:
        return resolve(self.root, relative)


def prepare(task: Task, target: Path, *, sandbox: bool) -> Path:
    """A fresh workspace at ``target``: the task's folder copied, or its repository cloned at
    its commit (the network is needed for that)."""
    spec = task.card.spec
    if spec.workspace is not None:
        return copy_tree(task.path(spec.workspace), target)
    assert spec.repository is not None
    target.mkdir(parents=True, exist_ok=True)
    repo = spec.repository
    with tempfile.TemporaryDirectory(prefix="benchctl-clone-") as home:
        steps = (
            ["git", "init", "--quiet", "."],
            ["git", "fetch", "--quiet", "--depth", "1", repo.url, repo.commit],
            ["git", "checkout", "--quiet", "--detach", "FETCH_HEAD"],
        )
        for argv in steps:
            done = run_step(
                argv, cwd=target, env=step_env(Path(home), {}), timeout=600,
                sandbox=sandbox, network=True, writable=[Path(home)],
            )  # fmt: skip
            if done.exit_code != 0:
                raise TaskError(
                    f"cannot fetch {repo.url} at {repo.commit} for task card {task.name}"
                    f" ({' '.join(argv[:2])} exited {done.exit_code}): {done.log[-400:].strip()}"
                )
    return target


def setup(
    task: Task, workspace: Path, scratch: Path, *, sandbox: bool, hidden: Sequence[Path] = ()
) -> Finished | None:
    """Run the task's setup in ``workspace`` (None when it has none). The network is allowed:
    setup installs what the task needs."""
    step = task.card.spec.setup
    if step is None:
        return None
    home = scratch / "setup-home"
    home.mkdir(parents=True, exist_ok=True)
    return run_step(
        ["bash", "-c", step.run],
        cwd=workspace,
        env=step_env(home, {"BENCHCTL_WORKSPACE": str(workspace)}),
        timeout=duration_seconds(step.timeout),
        sandbox=sandbox,
        writable=[home],
        hidden=hidden,
        network=True,
    )
