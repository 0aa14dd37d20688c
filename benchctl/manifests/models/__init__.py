"""The manifest kinds, and where each lives in a repository."""

from __future__ import annotations

from benchctl.manifests.models.common import API_VERSION, Envelope
from benchctl.manifests.models.experiment import Experiment
from benchctl.manifests.models.harness_profile import HarnessProfile
from benchctl.manifests.models.provider import Provider
from benchctl.manifests.models.task_card import TaskCard
from benchctl.manifests.models.variant import Variant

Manifest = Provider | HarnessProfile | Variant | TaskCard | Experiment

# kind -> (model, folder). Order is dependency order: a kind refers only to kinds before it.
KINDS: dict[str, tuple[type[Envelope], str]] = {
    "Provider": (Provider, "providers"),
    "HarnessProfile": (HarnessProfile, "harness_profiles"),
    "TaskCard": (TaskCard, "task_cards"),
    "Variant": (Variant, "variants"),
    "Experiment": (Experiment, "experiments"),
}
FOLDER_KIND = {folder: kind for kind, (_, folder) in KINDS.items()}

__all__ = [
    "API_VERSION",
    "FOLDER_KIND",
    "KINDS",
    "Experiment",
    "HarnessProfile",
    "Manifest",
    "Provider",
    "TaskCard",
    "Variant",
]
