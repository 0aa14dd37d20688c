"""The folders a task card names: where they are, what they hold (a content hash), copies."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

from benchctl.errors import TaskError
from benchctl.manifests.yaml_source import outside_repository

# A task folder is source code and fixtures, reviewed in pull requests: far below this.
MAX_TREE_BYTES = 200 * 1024 * 1024


def leaves(root: Path, relative: str) -> bool:
    """Whether a symlink takes ``relative`` (a repository path, no `..`) out of ``root``."""
    try:
        return outside_repository(root / relative, root) is not None
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        return True


def resolve(root: Path, relative: str) -> Path:
    """``relative`` under ``root``, refusing anything that leaves the repository."""
    if leaves(root, relative):
        raise TaskError(f"{relative} leaves the repository (a symlink points outside it).")
    return root / relative


def entries(folder: Path) -> list[tuple[str, Path]]:
    """Every file and symlink under ``folder`` (symlinked folders not followed), as sorted
    (relative POSIX path, path) pairs."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames if Path(dirpath, d).is_symlink()]:
            path = Path(dirpath, name)
            found.append((path.relative_to(folder).as_posix(), path))
    return sorted(found)


def tree_hash(path: Path) -> str:
    """SHA-256 over a file, or over a folder's relative paths, executable bits and contents.

    Symlinks hash as their target text and are never followed, so the hash says what a copy
    holds. Caches a test run leaves behind are skipped: they are not the tests.
    """
    digest = hashlib.sha256()
    if path.is_file():
        digest.update(path.read_bytes())
        return digest.hexdigest()
    total = 0
    for relative, entry in entries(path):
        if _is_cache(relative):
            continue
        mode = entry.lstat().st_mode
        if stat.S_ISLNK(mode):
            body = str(entry.readlink()).encode()
            kind = b"l"
        elif stat.S_ISREG(mode):
            body = entry.read_bytes()
            kind = b"x" if mode & stat.S_IXUSR else b"f"
        else:
            raise TaskError(f"{entry} is not a regular file, folder or symlink.")
        total += len(body)
        if total > MAX_TREE_BYTES:
            raise TaskError(f"{path} holds more than {MAX_TREE_BYTES // 2**20} MiB.")
        digest.update(relative.encode() + b"\0" + kind + b"\0")
        digest.update(hashlib.sha256(body).digest())
    return digest.hexdigest()


def _is_cache(relative: str) -> bool:
    parts = relative.split("/")
    return "__pycache__" in parts or ".pytest_cache" in parts


def copy_tree(source: Path, target: Path) -> Path:
    """A fresh copy of ``source`` (a folder's contents, or one file) at ``target``."""
    if source.is_file():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / source.name)
        return target
    shutil.copytree(
        source,
        target,
        symlinks=True,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"),
    )
    return target
