"""The demo's scratch copy of the manifests, with the demo experiment's grid run headless.

The demo never edits the repository's own manifests nor touches its state: it works in a fresh
copy under ``.benchctl/demo/`` with its own embedded database and stack, so running it twice
starts from the same nothing, and a user's real sessions are never in the way.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ruamel.yaml import YAML

from benchctl.errors import UsageError
from benchctl.manifests.models import FOLDER_KIND
from benchctl.settings import STATE_DIR

DEMO_EXPERIMENT = "demo"
WORKSPACE = Path(STATE_DIR) / "demo"


def prepare(root: Path, workspace: Path) -> Path:
    """A fresh workspace holding the object manifests and the demo experiment, run headless.

    Returns the experiment manifest's path in the workspace.
    """
    source = root / "experiments" / f"{DEMO_EXPERIMENT}.yaml"
    if not source.is_file():
        raise UsageError(
            f"{root} has no experiments/{DEMO_EXPERIMENT}.yaml; run `benchctl demo` from a"
            " benchctl repository (or pass --root)."
        )
    if workspace.exists():
        shutil.rmtree(workspace)
    for folder, kind in FOLDER_KIND.items():
        if kind != "Experiment" and (root / folder).is_dir():
            shutil.copytree(root / folder, workspace / folder)
    # The task cards' own folders (workspaces, hidden tests, oracles) go with them.
    if (root / "tasks").is_dir():
        shutil.copytree(root / "tasks", workspace / "tasks")
    target = workspace / "experiments" / source.name
    target.parent.mkdir(parents=True)
    _write_grid(source, target)
    return target


def _write_grid(source: Path, target: Path) -> None:
    """The experiment with `spec.headless`: apply opens every variant x task card x replicate,
    and `benchctl run` works them."""
    yaml = YAML()
    document = yaml.load(source.read_text(encoding="utf-8"))
    document["spec"]["headless"] = {"max_attempts": 2, "sandbox": "auto"}
    with target.open("w", encoding="utf-8") as handle:
        yaml.dump(document, handle)
