"""Import a Harbor (Terminal-Bench 2) task folder as a task card, its files unchanged.

Harbor's layout maps field by field: ``instruction.md`` → ``instructions``; ``tests/`` →
``verify.tests`` run as ``bash /tests/test.sh``, which writes ``/logs/verifier/reward.txt`` or
``reward.json`` as benchctl's verifiers do; ``solution/solve.sh`` → ``oracle.script``;
``[verifier].timeout_sec`` and ``[agent].timeout_sec`` → ``verify.timeout`` and ``timebox``;
``environment/`` (the Dockerfile's build context) → ``workspace``. The Dockerfile itself is not
run: a container image is not a benchctl workspace, so its ``RUN`` lines are reported for the
author to turn into ``setup``.
"""

from __future__ import annotations

import io
import math
import re
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from benchctl.errors import UsageError
from benchctl.manifests.models.common import NAME_PATTERN

_DIFFICULTY = {"easy": "easy", "medium": "medium", "hard": "hard"}
_TAG = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass
class Imported:
    name: str
    card: Path
    folder: Path
    notes: list[str] = field(default_factory=list)


def _duration(seconds: object, default: str) -> str:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        return default
    return f"{max(1, math.ceil(seconds))}s"


def _table(config: dict[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key)
    return value if isinstance(value, dict) else {}


def import_harbor(folder: Path, root: Path, name: str | None) -> Imported:
    name = name or folder.resolve().name.lower().replace("_", "-")
    if not re.fullmatch(NAME_PATTERN, name):
        raise UsageError(f"{name!r} is not a valid task card name; pass --name NAME.")
    missing = [
        p for p in ("task.toml", "instruction.md", "tests/test.sh") if not (folder / p).is_file()
    ]
    if missing:
        raise UsageError(f"{folder} is not a Harbor task folder: it lacks {', '.join(missing)}.")
    card_path = root / "task_cards" / f"{name}.yaml"
    target = root / "tasks" / name
    if card_path.exists() or target.exists():
        raise UsageError(
            f"{card_path if card_path.exists() else target} exists already; pass another --name."
        )
    try:
        config = tomllib.loads((folder / "task.toml").read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{folder / 'task.toml'} is not valid TOML: {exc}.") from None
    metadata, task = _table(config, "metadata"), _table(config, "task")
    notes: list[str] = []
    base = f"tasks/{name}"
    spec: dict[str, Any] = {
        "title": str(task.get("description") or metadata.get("title") or name)[:200],
        "workspace": f"{base}/environment",
        "instructions": LiteralScalarString(
            (folder / "instruction.md").read_text(encoding="utf-8").strip() + "\n"
        ),
        "verify": {
            "run": "bash /tests/test.sh",
            "tests": f"{base}/tests",
            "timeout": _duration(_table(config, "verifier").get("timeout_sec"), "10m"),
        },
    }
    if (folder / "solution" / "solve.sh").is_file():
        spec["oracle"] = {"script": f"{base}/solution/solve.sh"}
    else:
        notes.append("no solution/solve.sh: add an oracle before `task check` can pass.")
    spec["timebox"] = _duration(_table(config, "agent").get("timeout_sec"), "30m")
    difficulty = str(metadata.get("difficulty", "medium")).lower()
    spec["difficulty"] = _DIFFICULTY.get(difficulty, "medium")
    raw_tags = metadata.get("tags") or task.get("keywords") or []
    tags = [str(t).lower() for t in raw_tags if _TAG.fullmatch(str(t).lower())]
    if tags:
        spec["tags"] = tags
    dockerfile = folder / "environment" / "Dockerfile"
    if dockerfile.is_file():
        runs = [
            line.strip()
            for line in dockerfile.read_text(encoding="utf-8", errors="replace").splitlines()
            if line.strip().upper().startswith("RUN ")
        ]
        if runs:
            notes.append(
                "environment/Dockerfile is not run; turn what its RUN lines install into"
                " spec.setup or the machine's packages: " + " | ".join(runs[:5])
            )
    document = {
        "apiVersion": "benchctl/v1",
        "kind": "TaskCard",
        "metadata": {"name": name, "description": f"Imported from the Harbor task {folder.name}."},
        "spec": spec,
    }
    shutil.copytree(folder, target, symlinks=True)
    (target / "environment").mkdir(exist_ok=True)
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    buffer.write("# yaml-language-server: $schema=../schemas/task-card.schema.json\n")
    yaml.dump(document, buffer)
    card_path.parent.mkdir(exist_ok=True)
    card_path.write_text(buffer.getvalue(), encoding="utf-8")
    return Imported(name, card_path, target, notes)
