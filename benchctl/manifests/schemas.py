"""JSON Schemas of the manifest kinds, generated from the models and committed in ``schemas/``.

Editors use them through each manifest's ``# yaml-language-server: $schema=...`` modeline. They
check structure only: references between manifests, file placement, secrets and templates are
checked by ``benchctl validate`` alone (docs/manifests.md lists these differences).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from benchctl.manifests.models import KINDS

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_filename(kind: str) -> str:
    """``HarnessProfile`` -> ``harness-profile.schema.json``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", kind).lower() + ".schema.json"


def _close_pattern_maps(node: Any) -> None:
    # pydantic renders dict[Pattern, X] as patternProperties alone, which lets any other key
    # through; the models reject such keys, so the schema must too.
    if isinstance(node, dict):
        if "patternProperties" in node and "properties" not in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close_pattern_maps(value)
    elif isinstance(node, list):
        for value in node:
            _close_pattern_maps(value)


def kind_schema(kind: str) -> dict[str, Any]:
    model = KINDS[kind][0]
    schema = model.model_json_schema()
    _close_pattern_maps(schema)
    return {"$schema": SCHEMA_DIALECT, **schema, "title": f"benchctl {kind}"}


def render_schemas() -> dict[str, str]:
    """File name -> content of every schema, byte-stable."""
    return {
        schema_filename(kind): json.dumps(kind_schema(kind), indent=2, sort_keys=True) + "\n"
        for kind in KINDS
    }


def stale_schemas(directory: Path) -> list[str]:
    """Schema files in ``directory`` that are missing or differ from the models."""
    stale = []
    for name, content in render_schemas().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            stale.append(name)
    return stale


def write_schemas(directory: Path) -> list[str]:
    """Write the schemas that changed; returns their file names."""
    directory.mkdir(parents=True, exist_ok=True)
    stale = stale_schemas(directory)
    rendered = render_schemas()
    for name in stale:
        (directory / name).write_text(rendered[name], encoding="utf-8")
    return stale
