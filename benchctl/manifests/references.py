"""Repository-wide checks: references between manifests and consistency inside experiments."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from pathlib import PurePosixPath
from typing import Any

from benchctl.manifests.catalog import Loaded, Repository
from benchctl.manifests.diagnostics import Diagnostic
from benchctl.manifests.models import Experiment, Provider, TaskCard, Variant
from benchctl.manifests.models.common import duration_seconds
from benchctl.manifests.models.harness_profile import setting_value_matches
from benchctl.manifests.yaml_source import PathSegment
from benchctl.tasks.files import leaves


def _fold(name: str) -> str:
    return name.casefold().replace("_", "-").replace(".", "-")


def _resolve(
    loaded: Loaded[Any],
    loc: tuple[PathSegment, ...],
    kind: str,
    name: str,
    known: Iterable[str],
    invalid: AbstractSet[tuple[str, str]],
) -> Diagnostic | None:
    """None when ``name`` is in ``known`` (or names an invalid file, reported on its own);
    else a dangling (BC300) or ambiguous (BC302) finding."""
    known = list(known)
    if name in known or (kind, name) in invalid:
        return None
    folded = [k for k in known if _fold(k) == _fold(name)]
    if len(folded) > 1:
        return loaded.doc.diagnostic(
            loc,
            "BC302",
            f"{kind} {name!r} does not exist, and it matches {', '.join(map(repr, folded))}"
            " ignoring case and separators",
            "name exactly one of them",
        )
    close = folded or difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else ""
    return loaded.doc.diagnostic(loc, "BC300", f"{kind} {name!r} does not exist", hint)


def _provider_models(provider: Loaded[Provider]) -> Iterator[Diagnostic]:
    groups: dict[str, list[str]] = {}
    for model_id in provider.model.spec.models:
        groups.setdefault(_fold(model_id), []).append(model_id)
    for ids in groups.values():
        if len(ids) > 1:
            yield provider.doc.diagnostic(
                ("spec", "models", ids[1]),
                "BC302",
                f"model ids {', '.join(map(repr, ids))} differ only in case or separators",
                key=True,
            )


def _variant(repo: Repository, variant: Loaded[Variant]) -> Iterator[Diagnostic]:
    spec = variant.model.spec
    provider = repo.providers.get(spec.provider)
    if provider is None:
        found = _resolve(
            variant, ("spec", "provider"), "Provider", spec.provider, repo.providers, repo.invalid
        )
        if found:
            yield found
    else:
        found = _resolve(
            variant, ("spec", "model"), "model", spec.model, provider.model.spec.models, set()
        )
        if found:
            yield Diagnostic(
                found.path,
                found.line,
                found.col,
                "BC303" if found.code == "BC300" else found.code,
                f"provider {spec.provider!r} does not offer model {spec.model!r}",
                found.hint or "offered: " + ", ".join(provider.model.spec.models),
            )
    profile = repo.harness_profiles.get(spec.harness_profile)
    if profile is None:
        found = _resolve(
            variant,
            ("spec", "harness_profile"),
            "HarnessProfile",
            spec.harness_profile,
            repo.harness_profiles,
            repo.invalid,
        )
        if found:
            yield found
        return
    declared = profile.model.spec.settings
    for name, value in spec.harness_settings.items():
        loc = ("spec", "harness_settings", name)
        setting = declared.get(name)
        if setting is None:
            close = difflib.get_close_matches(name, list(declared), n=1)
            yield variant.doc.diagnostic(
                loc,
                "BC304",
                f"harness profile {spec.harness_profile!r} does not accept setting {name!r}",
                f"did you mean {close[0]!r}?"
                if close
                else "accepted: " + (", ".join(declared) or "none"),
            )
        elif not setting_value_matches(setting.type, value):
            yield variant.doc.diagnostic(
                loc,
                "BC305",
                f"setting {name!r} must be of type {setting.type}, got {value!r}",
            )
        elif setting.enum is not None and value not in setting.enum:
            yield variant.doc.diagnostic(
                loc,
                "BC305",
                f"setting {name!r} must be one of {', '.join(map(repr, setting.enum))},"
                f" got {value!r}",
            )
    for name, setting in declared.items():
        if setting.required and name not in spec.harness_settings:
            yield variant.doc.diagnostic(
                ("spec", "harness_settings"),
                "BC312",
                f"harness profile {spec.harness_profile!r} requires setting {name!r}",
                f"add `{name}:` under spec.harness_settings",
                key=True,
            )


def _duplicates(loaded: Loaded[Any], field: str, names: list[str]) -> Iterator[Diagnostic]:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            yield loaded.doc.diagnostic(
                ("spec", field, index), "BC311", f"{name!r} is listed twice in {field}"
            )
        seen.add(name)


def _experiment(repo: Repository, experiment: Loaded[Experiment]) -> Iterator[Diagnostic]:
    spec = experiment.model.spec
    lists: tuple[tuple[str, str, list[str], dict[str, Any]], ...] = (
        ("variants", "Variant", spec.variants, repo.variants),
        ("task_cards", "TaskCard", spec.task_cards, repo.task_cards),
    )
    for field, kind, names, known in lists:
        yield from _duplicates(experiment, field, names)
        for index, name in enumerate(names):
            loc = ("spec", field, index)
            found = _resolve(experiment, loc, kind, name, known, repo.invalid)
            if found:
                yield found
    ttl = duration_seconds(spec.session_policy.ttl)
    for name in dict.fromkeys(spec.task_cards):
        card = repo.task_cards.get(name)
        if card is not None and duration_seconds(card.model.spec.timebox) > ttl:
            # At the ttl when it is written, else at the key under which it defaults.
            written = "ttl" in experiment.doc.data["spec"].get("session_policy", {})
            yield experiment.doc.diagnostic(
                ("spec", "session_policy", "ttl"),
                "BC313",
                f"session keys live {spec.session_policy.ttl} but task card {name!r} has a"
                f" timebox of {card.model.spec.timebox}: a key could expire mid-task",
                key=not written,
                severity="warning",
            )
    if spec.baseline not in spec.variants:
        yield experiment.doc.diagnostic(
            ("spec", "baseline"),
            "BC306",
            f"baseline {spec.baseline!r} is not one of the experiment's variants",
            "pick one of: " + ", ".join(spec.variants),
        )
    entries: Counter[tuple[str, str, int]] = Counter()
    for index, session in enumerate(spec.sessions):
        where: tuple[PathSegment, ...] = ("spec", "sessions", index)
        if session.variant not in spec.variants:
            yield experiment.doc.diagnostic(
                (*where, "variant"),
                "BC307",
                f"session variant {session.variant!r} is not in spec.variants",
            )
        if session.task_card not in spec.task_cards:
            yield experiment.doc.diagnostic(
                (*where, "task_card"),
                "BC308",
                f"session task card {session.task_card!r} is not in spec.task_cards",
            )
        if session.replicate > spec.replicates:
            yield experiment.doc.diagnostic(
                (*where, "replicate"),
                "BC309",
                f"replicate {session.replicate} is more than spec.replicates ({spec.replicates})",
            )
        key = (session.variant, session.task_card, session.replicate)
        entries[key] += 1
        if entries[key] == 2:
            yield experiment.doc.diagnostic(
                where,
                "BC310",
                f"session {session.variant} x {session.task_card} replicate {session.replicate}"
                " is listed twice",
            )


def _task_paths(repo: Repository, card: Loaded[TaskCard]) -> Iterator[Diagnostic]:
    spec = card.model.spec
    wanted: list[tuple[tuple[PathSegment, ...], str | None, bool]] = [
        (("spec", "workspace"), spec.workspace, True),
        (("spec", "verify", "tests"), spec.verify.tests if spec.verify else None, True),
        (("spec", "oracle", "patch"), spec.oracle.patch if spec.oracle else None, False),
        (("spec", "oracle", "script"), spec.oracle.script if spec.oracle else None, False),
    ]
    root = repo.task_files
    for loc, relative, folder in wanted:
        if relative is None:
            continue
        if leaves(root, relative):
            problem = f"{relative} leaves the repository through a symlink"
        elif folder and not (root / relative).is_dir():
            problem = f"{relative} is not a folder of the repository"
        elif not folder and not (root / relative).is_file():
            problem = f"{relative} is not a file of the repository"
        else:
            continue
        yield card.doc.diagnostic(loc, "BC314", problem)
    if spec.workspace and spec.verify and spec.verify.tests:
        workspace, tests = PurePosixPath(spec.workspace), PurePosixPath(spec.verify.tests)
        if tests == workspace or tests.is_relative_to(workspace):
            yield card.doc.diagnostic(
                ("spec", "verify", "tests"),
                "BC315",
                f"verify.tests {spec.verify.tests} lies inside the workspace {spec.workspace}:"
                " the agent would see the hidden tests",
            )


def check_references(repo: Repository) -> Iterator[Diagnostic]:
    for provider in repo.providers.values():
        yield from _provider_models(provider)
    for card in repo.task_cards.values():
        yield from _task_paths(repo, card)
    for variant in repo.variants.values():
        yield from _variant(repo, variant)
    for experiment in repo.experiments.values():
        yield from _experiment(repo, experiment)
