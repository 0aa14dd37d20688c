"""The loaded repository: every valid manifest by kind and name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from benchctl.manifests.models import (
    KINDS,
    Experiment,
    HarnessProfile,
    Provider,
    TaskCard,
    Variant,
)
from benchctl.manifests.models.common import Envelope
from benchctl.manifests.yaml_source import YamlDocument

M = TypeVar("M", bound=Envelope)


@dataclass(frozen=True)
class Loaded(Generic[M]):
    """A valid manifest and the document it came from (to locate later findings)."""

    path: Path
    doc: YamlDocument
    model: M

    @property
    def name(self) -> str:
        return self.model.metadata.name


@dataclass
class Repository:
    """Every valid manifest by kind and name. Invalid files are left out (and diagnosed)."""

    root: Path
    providers: dict[str, Loaded[Provider]] = field(default_factory=dict)
    harness_profiles: dict[str, Loaded[HarnessProfile]] = field(default_factory=dict)
    task_cards: dict[str, Loaded[TaskCard]] = field(default_factory=dict)
    variants: dict[str, Loaded[Variant]] = field(default_factory=dict)
    experiments: dict[str, Loaded[Experiment]] = field(default_factory=dict)
    # (kind, name) of files that declare an object but failed their own checks: references to
    # them are not reported as dangling, since the file's own errors say what to fix.
    invalid: set[tuple[str, str]] = field(default_factory=set)
    # Where the folders task cards name are read (tasks/...): the repository itself, except
    # when a saved plan's manifests are re-checked in a scratch folder beside the checkout.
    files_root: Path | None = None

    @property
    def task_files(self) -> Path:
        return self.files_root or self.root

    def by_kind(self, kind: str) -> dict[str, Any]:
        table: dict[str, Any] = getattr(self, KINDS[kind][1])
        return table

    def count(self) -> int:
        return sum(len(self.by_kind(kind)) for kind in KINDS)
