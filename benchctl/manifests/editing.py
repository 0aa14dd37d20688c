"""Edits of experiment manifests that keep their comments and layout (ruamel.yaml round-trip).

The operator's session changes go through git like any other: these helpers only write the
YAML, so the change is a small reviewable diff that the next plan picks up. An edit is checked
on a scratch copy of the manifests first and written (atomically) only when the repository stays
valid, so a refused edit leaves nothing behind.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from benchctl.errors import UsageError
from benchctl.manifests.loader import load_repository
from benchctl.manifests.models import FOLDER_KIND


def _yaml() -> YAML:
    yaml = YAML()  # round-trip mode
    yaml.preserve_quotes = True
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _load(path: Path) -> tuple[YAML, Any]:
    yaml = _yaml()
    return yaml, yaml.load(path.read_text(encoding="utf-8"))


def _entries(document: Any) -> CommentedSeq:
    spec = document["spec"]
    sessions: CommentedSeq | None = spec.get("sessions")
    if sessions is None:
        sessions = CommentedSeq()
        spec["sessions"] = sessions
    # `sessions: []` is flow style; entries read better as a block list.
    sessions.fa.set_block_style()
    return sessions


def _same(entry: Any, variant: str, task_card: str, replicate: int) -> bool:
    return bool(
        entry.get("variant") == variant
        and entry.get("task_card") == task_card
        and entry.get("replicate", 1) == replicate
    )


def open_entry(variant: str, task_card: str, replicate: int) -> CommentedMap:
    """A session entry asking for the session to be opened, as `session add` writes it."""
    entry = CommentedMap()
    entry["variant"] = variant
    entry["task_card"] = task_card
    entry["replicate"] = replicate
    entry["status"] = "open"
    return entry


def _copy_manifests(source: Path, target: Path) -> None:
    """What the loader reads of a kind folder: its top-level entries that are regular files
    (copied) or symlinks (copied as links, so the loader judges them as it would in place).
    Subfolders, FIFOs and devices are not the loader's and are never read or followed."""
    if not source.is_dir():
        return
    target.mkdir()
    for entry in os.scandir(source):
        if entry.is_symlink():
            Path(target, entry.name).symlink_to(Path(entry.path).readlink())
        elif entry.is_file(follow_symlinks=False):
            shutil.copyfile(entry.path, Path(target, entry.name))


def _edit(root: Path, path: Path, change: Callable[[Any], None]) -> None:
    """Apply ``change`` to the document at ``path``, write it only if the repository stays valid."""
    yaml, document = _load(path)
    change(document)
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    text = buffer.getvalue()
    with tempfile.TemporaryDirectory(prefix="benchctl-edit-") as scratch:
        for folder in FOLDER_KIND:
            _copy_manifests(root / folder, Path(scratch, folder))
        relative = path.resolve().relative_to(root.resolve())
        Path(scratch, relative).write_text(text, encoding="utf-8")
        result = load_repository(Path(scratch), files_root=root)
        problems = [
            f"{root / d.path.relative_to(scratch)}:{d.line}:{d.col}: {d.code} {d.message}"
            for d in result.errors
        ]
    if problems:
        raise UsageError(
            f"{path} is unchanged: the edit would leave the manifests invalid:\n  "
            + "\n  ".join(problems)
        )
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def add_session(root: Path, path: Path, variant: str, task_card: str, replicate: int) -> None:
    def change(document: Any) -> None:
        spec = document["spec"]
        for name, field in ((variant, "variants"), (task_card, "task_cards")):
            listed = [str(n) for n in spec.get(field) or []]
            if name not in listed:
                raise UsageError(
                    f"{path} is unchanged: {name!r} is not in the experiment's spec.{field}"
                    f" ({', '.join(listed)}); add it there first."
                )
        sessions = _entries(document)
        if any(_same(e, variant, task_card, replicate) for e in sessions):
            raise UsageError(
                f"{path} already has a session for {variant} on {task_card}, replicate {replicate}."
            )
        sessions.append(open_entry(variant, task_card, replicate))

    _edit(root, path, change)


@dataclass(frozen=True)
class SessionEnd:
    """How one session entry ends: finalized with an outcome, or aborted."""

    variant: str
    task_card: str
    replicate: int
    status: str
    outcome: str | None = None
    notes: str | None = None
    outcome_source: str | None = None


def end_sessions(root: Path, path: Path, ends: Sequence[SessionEnd]) -> None:
    """Mark entries finalized (with an outcome) or aborted, in place, in one checked write."""

    def change(document: Any) -> None:
        entries = _entries(document)
        for end in ends:
            matches = [e for e in entries if _same(e, end.variant, end.task_card, end.replicate)]
            if not matches:
                raise UsageError(
                    f"{path} has no session entry for {end.variant} on {end.task_card},"
                    f" replicate {end.replicate}."
                )
            entry = matches[0]
            entry["status"] = end.status
            if end.outcome is not None:
                entry["outcome"] = end.outcome
            elif "outcome" in entry:
                del entry["outcome"]
            if end.outcome_source is not None:
                entry["outcome_source"] = end.outcome_source
            elif "outcome_source" in entry:
                del entry["outcome_source"]
            if end.notes:
                entry["notes"] = end.notes

    _edit(root, path, change)
