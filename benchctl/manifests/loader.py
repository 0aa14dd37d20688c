"""Load a manifest repository: find files, parse, validate each, then check references."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from benchctl.errors import ManifestError, UsageError
from benchctl.manifests.catalog import Loaded, Repository
from benchctl.manifests.diagnostics import Diagnostic
from benchctl.manifests.models import (
    API_VERSION,
    FOLDER_KIND,
    KINDS,
    HarnessProfile,
)
from benchctl.manifests.references import check_references
from benchctl.manifests.sandbox import total_budget
from benchctl.manifests.schema_errors import schema_diagnostics
from benchctl.manifests.secrets import find_secrets
from benchctl.manifests.templates import check_templates
from benchctl.manifests.yaml_source import YamlDocument, load_yaml, outside_repository

SUFFIXES = (".yaml", ".yml")


@dataclass
class ValidationResult:
    repository: Repository
    diagnostics: list[Diagnostic]
    files_checked: int

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


def discover(root: Path) -> list[Path]:
    """Manifest files of a repository: ``<root>/<kind folder>/*.yaml`` (and ``.yml``).

    A kind folder that is a symlink out of the repository is not listed: it is returned itself,
    for loading to refuse (BC114).
    """
    found: list[Path] = []
    for folder in FOLDER_KIND:
        directory = root / folder
        if _leaves(directory, root):
            found.append(directory)
        elif directory.is_dir():
            found.extend(sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES))
    return found


def expand(paths: Iterable[Path], root: Path | None = None) -> list[Path]:
    """Files named, and manifest files under folders named (a repository or a kind folder).

    With ``root``, a folder named that is a symlink out of that repository is not listed: it is
    returned itself, for loading to refuse (BC114).
    """
    files: list[Path] = []
    for path in paths:
        if not path.is_dir() or (root is not None and _leaves(path, root)):
            files.append(path)
        elif any((path / folder).is_dir() for folder in FOLDER_KIND):
            files.extend(discover(path))
        else:
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES))
    return files


def _leaves(path: Path, root: Path) -> bool:
    """Whether a symlink takes ``path`` out of the repository at ``root`` (or loops)."""
    try:
        return path.is_symlink() and outside_repository(path, root) is not None
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        return True


def _real(path: Path) -> Path:
    """``path`` with symlinks resolved, or as it is when they loop."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def _envelope(doc: YamlDocument) -> tuple[str | None, list[Diagnostic]]:
    """The manifest's kind, or why it has none we know."""
    data = doc.data
    problems: list[Diagnostic] = []
    if "apiVersion" not in data:
        problems.append(doc.diagnostic((), "BC202", "missing required field `apiVersion`"))
    elif data["apiVersion"] != API_VERSION:
        problems.append(
            doc.diagnostic(
                ("apiVersion",),
                "BC200",
                f"apiVersion {data['apiVersion']!r} is not supported; this benchctl reads"
                f" {API_VERSION!r}",
            )
        )
    kind = data.get("kind")
    if "kind" not in data:
        problems.append(doc.diagnostic((), "BC202", "missing required field `kind`"))
        return None, problems
    if not isinstance(kind, str) or kind not in KINDS:
        close = difflib.get_close_matches(str(kind), list(KINDS), n=1)
        problems.append(
            doc.diagnostic(
                ("kind",),
                "BC201",
                f"kind {kind!r} is not a benchctl kind",
                f"did you mean {close[0]!r}?" if close else "",
            )
        )
        return None, problems
    return kind, problems


def _placement(doc: YamlDocument, kind: str) -> Iterable[Diagnostic]:
    folder = KINDS[kind][1]
    if doc.path.parent.name != folder:
        yield doc.diagnostic(
            ("kind",),
            "BC207",
            f"a {kind} belongs in `{folder}/`, not `{doc.path.parent.name}/`",
            f"move the file to {folder}/{doc.path.name}",
        )
    name = declared_name(doc)
    if name is not None and name != doc.path.stem:
        yield doc.diagnostic(
            ("metadata", "name"),
            "BC206",
            f"metadata.name is {name!r} but the file is named {doc.path.name!r}",
            f"rename the file to {name}{doc.path.suffix or '.yaml'} or set metadata.name to"
            f" {doc.path.stem!r}",
        )


def declared_name(doc: YamlDocument) -> str | None:
    metadata = doc.data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else None


def load_manifest(
    path: Path, root: Path | None = None
) -> tuple[Loaded[Any] | YamlDocument | None, list[Diagnostic]]:
    """Parse and validate one file on its own (no cross-references).

    Returns the valid manifest, or the parsed document when it failed validation (so its
    declared kind and name are known), or None when it could not be parsed. With ``root``, the
    file must lie inside that repository (a symlink out of it is refused, BC114).
    """
    parsed = load_yaml(path, root=root)
    if not isinstance(parsed, YamlDocument):
        return None, parsed
    problems = list(find_secrets(parsed, parsed.text))
    kind, envelope_problems = _envelope(parsed)
    problems.extend(envelope_problems)
    if kind is None:
        return parsed, problems
    problems.extend(_placement(parsed, kind))
    model_cls = KINDS[kind][0]
    # The envelope check above already reported a missing or unsupported apiVersion.
    try:
        model = model_cls.model_validate({**parsed.data, "apiVersion": API_VERSION})
    except ValidationError as exc:
        problems.extend(schema_diagnostics(model_cls, exc, parsed))
        return parsed, problems
    if isinstance(model, HarnessProfile):
        problems.extend(check_templates(model, parsed))
    return Loaded(path, parsed, model), problems


def load_repository(
    root: Path, paths: Sequence[Path] | None = None, *, files_root: Path | None = None
) -> ValidationResult:
    """Load every manifest under ``root`` plus ``paths``; report on ``paths`` (all if None).

    References always resolve against the whole repository, so checking one changed file still
    catches a variant that names a provider nobody defined. All template renders share one
    time budget (``sandbox.total_budget``). Task cards' folders are read under ``files_root``
    (default ``root``).
    """
    with total_budget():
        return _load_repository(root, paths, files_root)


def _load_repository(
    root: Path, paths: Sequence[Path] | None, files_root: Path | None
) -> ValidationResult:
    files = discover(root)
    targets = None
    if paths is not None:
        named = expand(paths, root)
        targets = {_real(p) for p in named}
        known = {_real(p) for p in files}
        files.extend(p for p in named if _real(p) not in known)
    repository = Repository(root, files_root=files_root)
    diagnostics: list[Diagnostic] = []
    for path in files:
        loaded, problems = load_manifest(path, root)
        diagnostics.extend(problems)
        if isinstance(loaded, YamlDocument):
            kind, name = loaded.data.get("kind"), declared_name(loaded)
            if isinstance(kind, str) and name is not None:
                repository.invalid.add((kind, name))
            continue
        if loaded is None:
            continue
        kind = loaded.model.kind
        table = repository.by_kind(kind)
        first = table.get(loaded.name)
        if first is not None:
            diagnostics.append(
                loaded.doc.diagnostic(
                    ("metadata", "name"),
                    "BC301",
                    f"{kind} {loaded.name!r} is also defined in {first.path}",
                )
            )
            continue
        table[loaded.name] = loaded
    diagnostics.extend(check_references(repository))
    if targets is not None:
        diagnostics = [d for d in diagnostics if _real(d.path) in targets]
        checked = len(targets)
    else:
        checked = len(files)
    diagnostics.sort(key=Diagnostic.sort_key)
    return ValidationResult(repository, diagnostics, checked)


def load_valid_repository(root: Path) -> Repository:
    """The repository under ``root``, for commands that act on it: every manifest valid.

    Raises UsageError when ``root`` holds no manifests at all (an empty or wrong --root would
    otherwise look like a repository whose objects were all removed), ManifestError listing the
    diagnostics when any is invalid.
    """
    if not discover(root):
        folders = ", ".join(f"{f}/" for f in FOLDER_KIND)
        raise UsageError(
            f"no manifests found under {root}: expected YAML files in {folders}."
            " Run benchctl from the repository root or pass --root."
        )
    result = load_repository(root)
    if not result.ok:
        raise ManifestError(result.errors)
    return result.repository
