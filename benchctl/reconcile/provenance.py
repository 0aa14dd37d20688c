"""Where a change comes from: the manifests' git commit, whether it was dirty, and who ran it."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
from pathlib import Path

from benchctl.manifests.models import FOLDER_KIND


def _git(root: Path, *args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    done = subprocess.run([git, "-C", str(root), *args], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def manifest_commit(root: Path) -> tuple[str | None, bool | None]:
    """(HEAD commit, whether manifest folders differ from it); (None, None) outside git."""
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = _git(root, "status", "--porcelain", "--", *FOLDER_KIND)
    return commit, bool(status)


def operator() -> str:
    """BENCHCTL_OPERATOR, else the git user's email, else the login name."""
    return (
        os.environ.get("BENCHCTL_OPERATOR")
        or _git(Path(), "config", "user.email")
        or getpass.getuser()
    )


def holder() -> str:
    return f"{operator()} on {socket.gethostname()} (pid {os.getpid()})"
