"""Which task cards a change touches: their manifest, or a file in a folder they name."""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

from benchctl.errors import UsageError
from benchctl.manifests.catalog import Repository


def _git(root: Path, *args: str) -> list[str]:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise UsageError(f"--changed-since needs git: {exc.strerror}.") from None
    if done.returncode != 0:
        raise UsageError(
            f"git {args[0]} failed in {root}: {done.stderr.strip()[:300]}"
            " (a pull request's checkout needs the base branch fetched: fetch-depth: 0)."
        )
    return [path for path in done.stdout.split("\0") if path]


def changed_task_cards(repo: Repository, since: str) -> list[str]:
    """Task cards whose manifest, workspace, hidden tests or oracle differ from revision
    ``since``: committed, staged, unstaged or untracked."""
    root = repo.root
    prefix = [p.strip() for p in _git(root, "rev-parse", "--show-prefix")]
    changed = {
        path.removeprefix(prefix[0] if prefix else "")
        for path in _git(root, "diff", "-z", "--name-only", "--relative", since, "--")
        + _git(root, "ls-files", "-z", "--others", "--exclude-standard")
    }
    found = []
    for name, loaded in sorted(repo.task_cards.items()):
        spec = loaded.model.spec
        own = [
            loaded.path.resolve().relative_to(root.resolve()).as_posix(),
            spec.workspace,
            spec.verify.tests if spec.verify else None,
            spec.oracle.patch if spec.oracle else None,
            # A script oracle runs with its whole folder (helpers beside solve.sh).
            str(PurePosixPath(spec.oracle.script).parent)
            if spec.oracle and spec.oracle.script
            else None,
        ]
        folders = [p for p in own if p]
        if any(c == p or c.startswith(p + "/") for c in changed for p in folders):
            found.append(name)
    return found
