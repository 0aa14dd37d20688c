"""Edits of experiment manifests that keep their comments and layout (ruamel.yaml round-trip).

The operator's session changes go through git like any other: these helpers only write the
YAML, so the change is a small reviewable diff that the next plan picks up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from benchctl.errors import UsageError


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


def add_session(path: Path, variant: str, task_card: str, replicate: int) -> None:
    yaml, document = _load(path)
    sessions = _entries(document)
    if any(_same(e, variant, task_card, replicate) for e in sessions):
        raise UsageError(
            f"{path} already has a session for {variant} on {task_card}, replicate {replicate}."
        )
    sessions.append(open_entry(variant, task_card, replicate))
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(document, handle)


def end_session(
    path: Path,
    variant: str,
    task_card: str,
    replicate: int,
    *,
    status: str,
    outcome: str | None,
    notes: str | None,
) -> None:
    """Mark the entry finalized (with an outcome) or aborted, in place."""
    yaml, document = _load(path)
    matches = [e for e in _entries(document) if _same(e, variant, task_card, replicate)]
    if not matches:
        raise UsageError(
            f"{path} has no session entry for {variant} on {task_card}, replicate {replicate}."
        )
    entry = matches[0]
    entry["status"] = status
    if outcome is not None:
        entry["outcome"] = outcome
    elif "outcome" in entry:
        del entry["outcome"]
    if notes:
        entry["notes"] = notes
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(document, handle)
