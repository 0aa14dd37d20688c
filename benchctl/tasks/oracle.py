"""Apply a task's oracle, its reference solution, to a workspace."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchctl.errors import TaskError
from benchctl.manifests.models.common import duration_seconds
from benchctl.tasks.files import copy_tree
from benchctl.tasks.process import Finished, Mount, run_step, step_env
from benchctl.tasks.workspace import Task


def apply_oracle(
    task: Task, workspace: Path, scratch: Path, *, sandbox: bool, hidden: Sequence[Path] = ()
) -> Finished:
    """A patch goes in with ``git apply`` (a git repository or not); a script runs with bash
    in the workspace, its folder copied to ``$BENCHCTL_SOLUTION_DIR`` (``/solution`` in the
    sandbox), as Harbor runs ``solution/solve.sh``."""
    oracle = task.card.spec.oracle
    if oracle is None:
        raise TaskError(f"task card {task.name} has no oracle to prove it solvable.")
    own = scratch / "oracle"
    home = own / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {"BENCHCTL_WORKSPACE": str(workspace)}
    mounts: list[Mount] = []
    if oracle.patch is not None:
        patch = copy_tree(task.path(oracle.patch), own / "patch") / Path(oracle.patch).name
        argv = ["git", "apply", "--whitespace=nowarn", str(patch)]
    else:
        assert oracle.script is not None
        script = task.path(oracle.script)
        solution = copy_tree(script.parent, own / "solution")
        env["BENCHCTL_SOLUTION_DIR"] = str(solution)
        mounts.append(Mount(solution, "/solution"))
        argv = ["bash", str(solution / script.name)]
    return run_step(
        argv,
        cwd=workspace,
        env=step_env(home, env),
        timeout=duration_seconds(oracle.timeout),
        sandbox=sandbox,
        writable=[own],
        mounts=mounts,
        hidden=hidden,
    )
