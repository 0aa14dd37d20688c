"""Helpers for tests of `benchctl run`: a repository whose only experiment is a headless grid,
and benchctl as a subprocess (runners are killed, so they must be processes of their own)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def grid(
    name: str, variants: list[str], task_cards: list[str], replicates: int, **headless: object
) -> str:
    settings = ", ".join(f"{k}: {v}" for k, v in headless.items())
    return f"""\
apiVersion: benchctl/v1
kind: Experiment
metadata: {{name: {name}}}
spec:
  variants: [{", ".join(variants)}]
  task_cards: [{", ".join(task_cards)}]
  baseline: {variants[0]}
  replicates: {replicates}
  session_policy: {{ttl: 1h, budget_usd: 10}}
  headless: {{{settings}}}
"""


def only_experiment(repo: Path, name: str, text: str) -> Path:
    """Make ``text`` the repository's only experiment, ``name``."""
    for existing in (repo / "experiments").glob("*.yaml"):
        existing.unlink()
    (repo / "experiments" / f"{name}.yaml").write_text(text)
    return repo


def cli(
    repo: Path, env: dict[str, str], *args: str, timeout: float = 600, from_root: bool = False
) -> subprocess.CompletedProcess[str]:
    """benchctl on ``repo``; ``from_root``: run in it with the default `--root .`, as a user
    would, rather than with an absolute --root."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("BENCHCTL_FAILPOINT")}
    root = [] if from_root else ["--root", str(repo)]
    return subprocess.run(
        [sys.executable, "-m", "benchctl", *args, *root], cwd=repo if from_root else None,
        env=full | env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def popen(repo: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("BENCHCTL_FAILPOINT")}
    return subprocess.Popen(
        [sys.executable, "-m", "benchctl", *args, "--root", str(repo)],
        env=full | env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
