"""The desired state: what the manifests ask for, as plain data a saved plan can carry.

A plan file embeds this snapshot, so ``apply FILE`` applies exactly what was reviewed even if
the working tree changed since.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict

from benchctl.manifests.catalog import Repository
from benchctl.manifests.loader import load_repository
from benchctl.manifests.models import KINDS
from benchctl.manifests.models.common import NAME_PATTERN, Envelope
from benchctl.manifests.models.experiment import Outcome, OutcomeSource, SessionStatus
from benchctl.tasks.files import tree_hash

Kind = Literal["Provider", "HarnessProfile", "TaskCard", "Variant", "Experiment"]

# Kinds whose comparability-breaking changes create a new version once they have sessions.
VERSIONED: frozenset[str] = frozenset({"Variant", "TaskCard"})

# Fields of a task card that change what a session measures; the rest is presentation. The
# oracle is not among them: it proves the task solvable and is never shown to an agent.
TASK_CARD_COMPARABLE = (
    "repository", "workspace", "instructions", "acceptance_criteria", "setup", "verify",
    "timebox",
)  # fmt: skip

SESSION_NAMESPACE = uuid.UUID("6c1f3f0e-7a44-5b8e-9f51-0d3c2b8a9e11")
KEY_ALIAS_PREFIX = "benchctl-"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def flatten(value: Any, prefix: str) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"prefix.a.b": 1}``; lists stay values (order matters)."""
    if isinstance(value, Mapping) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}"))
        return flat
    return {prefix: value}


class Snapshot(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DesiredObject(Snapshot):
    kind: Kind
    name: str
    document: dict[str, Any]
    content_hash: str
    # Flattened fields whose change breaks comparability with earlier sessions.
    comparable: dict[str, Any]

    def model(self) -> Envelope:
        return KINDS[self.kind][0].model_validate(self.document)


class DesiredSession(Snapshot):
    experiment: str
    variant: str
    task_card: str
    replicate: int
    status: SessionStatus
    outcome: Outcome | None
    outcome_source: OutcomeSource | None = None
    notes: str
    # Opened from the experiment's headless grid, not from an entry: `benchctl run` ends it,
    # and the plan leaves it be once it has.
    headless: bool = False

    @property
    def source(self) -> OutcomeSource | None:
        """Where the outcome comes from; an outcome without a stated source is typed."""
        if self.outcome is None:
            return None
        return self.outcome_source or "self-reported"

    @property
    def id(self) -> str:
        return session_id(self.experiment, self.variant, self.task_card, self.replicate)

    @property
    def label(self) -> str:
        return session_label(self.experiment, self.variant, self.task_card, self.replicate)


class DesiredState(Snapshot):
    objects: list[DesiredObject]
    sessions: list[DesiredSession]
    manifest_commit: str | None
    manifest_dirty: bool | None
    repo_path: str

    def get(self, kind: Kind, name: str) -> DesiredObject:
        for obj in self.objects:
            if obj.kind == kind and obj.name == name:
                return obj
        raise KeyError((kind, name))


def session_label(experiment: str, variant: str, task_card: str, replicate: int) -> str:
    """How plans and messages name a session: ``experiment/variant/task_card#replicate``."""
    return f"{experiment}/{variant}/{task_card}#{replicate}"


def session_id(experiment: str, variant: str, task_card: str, replicate: int) -> str:
    """Deterministic, so a retried apply finds the row (and key alias) it made before."""
    return str(uuid.uuid5(SESSION_NAMESPACE, f"{experiment}\0{variant}\0{task_card}\0{replicate}"))


def alias_prefix(lineage: str) -> str:
    """Key aliases of one benchmark database: databases sharing a proxy never touch each
    other's keys (each sees only its own prefix, so another's keys are not its orphans)."""
    return f"{KEY_ALIAS_PREFIX}{lineage[:8]}-"


def key_alias(session: str, lineage: str) -> str:
    return f"{alias_prefix(lineage)}{session}"


def _comparable(kind: str, name: str, repo: Repository) -> dict[str, Any]:
    if kind == "Variant":
        variant = repo.variants[name].model
        provider = repo.providers[variant.spec.provider].model
        profile = repo.harness_profiles[variant.spec.harness_profile].model
        return {
            **flatten(variant.spec.model_dump(mode="json"), "spec"),
            "provider.route": provider.spec.route,
            "provider.api_base": provider.spec.api_base,
            "harness_profile.protocol": profile.spec.protocol,
        }
    if kind == "TaskCard":
        card = repo.task_cards[name].model
        spec = card.spec.model_dump(mode="json")
        # Fields a card leaves out are left out here too: a task card from before they existed
        # keeps its version.
        found = {f"spec.{f}": spec[f] for f in TASK_CARD_COMPARABLE if spec[f] not in (None, [])}
        # What the folders hold, not just their names: editing a hidden test is a new version.
        if card.spec.workspace is not None:
            found["files.workspace"] = tree_hash(repo.task_files / card.spec.workspace)
        if card.spec.verify is not None and card.spec.verify.tests is not None:
            found["files.tests"] = tree_hash(repo.task_files / card.spec.verify.tests)
        return found
    return {}


def _headless_grid(
    repo: Repository, listed: set[tuple[str, str, str, int]]
) -> list[DesiredSession]:
    """Every cell of each headless experiment's grid that no entry lists, as an open session."""
    grid = []
    for name, loaded in sorted(repo.experiments.items()):
        spec = loaded.model.spec
        if spec.headless is None:
            continue
        for variant in spec.variants:
            for task_card in spec.task_cards:
                for replicate in range(1, spec.replicates + 1):
                    if (name, variant, task_card, replicate) in listed:
                        continue
                    grid.append(
                        DesiredSession(
                            experiment=name, variant=variant, task_card=task_card,
                            replicate=replicate, status="open", outcome=None, notes="",
                            headless=True,
                        )
                    )  # fmt: skip
    return grid


def desired_state(
    repo: Repository, *, manifest_commit: str | None, manifest_dirty: bool | None
) -> DesiredState:
    """The snapshot of a valid repository (callers check validity first)."""
    objects = []
    for kind in KINDS:
        for name, loaded in sorted(repo.by_kind(kind).items()):
            document = loaded.model.model_dump(mode="json")
            if kind == "Experiment":
                # Session entries are reconciled as sessions (their own table and actions);
                # keeping them out makes opening a session not also "change" its experiment.
                del document["spec"]["sessions"]
            objects.append(
                DesiredObject(
                    kind=kind,
                    name=name,
                    document=document,
                    content_hash=digest(document),
                    comparable=_comparable(kind, name, repo),
                )
            )
    sessions = [
        DesiredSession(
            experiment=name,
            variant=entry.variant,
            task_card=entry.task_card,
            replicate=entry.replicate,
            status=entry.status,
            outcome=entry.outcome,
            outcome_source=entry.outcome_source,
            notes=entry.notes,
        )
        for name, loaded in sorted(repo.experiments.items())
        for entry in loaded.model.spec.sessions
    ]
    sessions.extend(
        _headless_grid(
            repo, {(s.experiment, s.variant, s.task_card, s.replicate) for s in sessions}
        )
    )
    return DesiredState(
        objects=objects,
        sessions=sessions,
        manifest_commit=manifest_commit,
        manifest_dirty=manifest_dirty,
        repo_path=str(repo.root.resolve()),
    )


def revalidate(desired: DesiredState, files_root: Path) -> list[str]:
    """Problems of a desired state read from a saved plan, as ``path:line:col: CODE message``.

    A plan file is plain JSON and its fingerprint a digest anyone can recompute, so what it
    embeds is checked like manifests from a pull request: its documents are written back as
    manifest files and loaded with every check `validate` runs, and the snapshot those give
    must be the one the plan carries (its hashes and comparable fields included). Task cards'
    folders are read under ``files_root``, the checkout applying the plan: hidden tests edited
    since the plan was saved make it differ, as they would make a new task card version.
    """
    # Names become file names below: only valid names, or a plan could write anywhere.
    names = [o.name for o in desired.objects] + [s.experiment for s in desired.sessions]
    bad = sorted({name for name in names if not re.fullmatch(NAME_PATTERN, name)})
    if bad:
        return [f"object names that are not valid names: {', '.join(map(repr, bad[:5]))}"]
    if desired.manifest_commit is not None and not re.fullmatch(
        r"[0-9a-f]{7,64}", desired.manifest_commit
    ):
        return ["manifest_commit is not a git commit id"]
    with tempfile.TemporaryDirectory(prefix="benchctl-plan-") as scratch:
        root = Path(scratch)
        entries: dict[str, list[dict[str, Any]]] = {}
        for session in desired.sessions:
            if session.headless:  # derived again from the experiment's spec.headless
                continue
            entry = session.model_dump(exclude={"experiment", "headless"}, exclude_none=True)
            if not entry.get("notes"):
                entry.pop("notes", None)
            entries.setdefault(session.experiment, []).append(entry)
        for obj in desired.objects:
            document = json.loads(canonical_json(obj.document))
            if obj.kind == "Experiment" and isinstance(document.get("spec"), dict):
                document["spec"]["sessions"] = entries.pop(obj.name, [])
            folder = root / KINDS[obj.kind][1]
            folder.mkdir(exist_ok=True)
            (folder / f"{obj.name}.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
        if entries:
            return [f"sessions of experiments the plan does not hold: {', '.join(sorted(entries))}"]
        result = load_repository(root, files_root=files_root)
        problems = [
            f"{d.path.relative_to(root)}:{d.line}:{d.col}: {d.code} {d.message}"
            for d in result.errors
        ]
        if problems:
            return problems
        again = desired_state(
            result.repository,
            manifest_commit=desired.manifest_commit,
            manifest_dirty=desired.manifest_dirty,
        )
    if again.model_copy(update={"repo_path": desired.repo_path}) != desired:
        return [
            "its snapshot differs from what its manifests give (hashes or fields edited, or a"
            " task card's folders changed since the plan was saved)"
        ]
    return []
