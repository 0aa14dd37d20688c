"""The field reference of docs/manifests.md, generated from the JSON Schemas so it cannot drift.

``scripts/gen_docs.py`` writes the generated blocks; a test fails when they are stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from benchctl.manifests.diagnostics import CODES
from benchctl.manifests.models import KINDS
from benchctl.manifests.schemas import kind_schema
from benchctl.manifests.templates import TEMPLATE_VARIABLES


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _non_null(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    options = [o for o in node.get("anyOf", [node]) if o.get("type") != "null"]
    return _resolve(options[0], defs) if len(options) == 1 else node


def _type(node: dict[str, Any], defs: dict[str, Any]) -> str:
    node = _non_null(_resolve(node, defs), defs)
    if "anyOf" in node:
        return " or ".join(_type(o, defs) for o in node["anyOf"] if o.get("type") != "null")
    if "const" in node:
        return f"`{node['const']}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    kind = str(node.get("type", "any"))
    if kind == "array":
        return f"list of {_type(node.get('items', {}), defs)}"
    if kind == "object":
        if "properties" in node:
            return "mapping"
        values = node.get("additionalProperties")
        if isinstance(values, dict):
            return f"mapping of name to {_type(values, defs)}"
        pattern_values = list(node.get("patternProperties", {}).values())
        return (
            f"mapping of name to {_type(pattern_values[0], defs)}" if pattern_values else "mapping"
        )
    bounds = [
        f"{sym} {node[key]}"
        for key, sym in (
            ("minimum", "≥"),
            ("exclusiveMinimum", ">"),
            ("maximum", "≤"),
            ("exclusiveMaximum", "<"),
        )
        if key in node
    ]
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def _children(node: dict[str, Any], defs: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(path suffix, object schema) to descend into, if the node holds nested fields."""
    node = _non_null(_resolve(node, defs), defs)
    if "properties" in node:
        return "", node
    if node.get("type") == "array":
        inner = _non_null(_resolve(node.get("items", {}), defs), defs)
        return ("[]", inner) if "properties" in inner else None
    if node.get("type") == "object":
        values = node.get("additionalProperties")
        if not isinstance(values, dict):
            values = next(iter(node.get("patternProperties", {}).values()), None)
        if isinstance(values, dict):
            inner = _non_null(_resolve(values, defs), defs)
            return (".<name>", inner) if "properties" in inner else None
    return None


def field_rows(kind: str) -> Iterator[tuple[str, str, bool, str, str]]:
    """(path, type, required, default, description) of every field of ``kind``, depth first."""
    schema = kind_schema(kind)
    defs = schema.get("$defs", {})

    def walk(node: dict[str, Any], prefix: str) -> Iterator[tuple[str, str, bool, str, str]]:
        required = set(node.get("required", []))
        for name, prop in node["properties"].items():
            path = f"{prefix}{name}"
            resolved = _resolve(prop, defs)
            default = json.dumps(prop["default"]) if "default" in prop else ""
            description = prop.get("description") or resolved.get("description", "")
            yield path, _type(prop, defs), name in required, default, description
            nested = _children(prop, defs)
            if nested is not None:
                suffix, inner = nested
                yield from walk(inner, f"{path}{suffix}.")

    yield from walk(schema, "")


def field_table(kind: str) -> str:
    lines = ["| field | type | required | default | description |", "|---|---|---|---|---|"]
    for path, type_, required, default, description in field_rows(kind):
        cells = [
            f"`{path}`",
            type_,
            "yes" if required else "",
            f"`{default}`" if default else "",
            description,
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def codes_table() -> str:
    lines = ["| code | problem | what to do |", "|---|---|---|"]
    lines += [f"| `{code}` | {title} | {hint} |" for code, (title, hint) in CODES.items()]
    return "\n".join(lines)


def template_variables_table() -> str:
    lines = ["| variable | example value |", "|---|---|"]
    for group, values in TEMPLATE_VARIABLES.items():
        for name, example in values.items():
            lines.append(f"| `{group}.{name}` | `{json.dumps(example)}` |")
    return "\n".join(lines)


def generated_blocks() -> dict[str, str]:
    """Marker name -> Markdown content of each generated block of docs/manifests.md."""
    blocks = {f"fields:{kind}": field_table(kind) for kind in KINDS}
    blocks["codes"] = codes_table()
    blocks["template-variables"] = template_variables_table()
    return blocks


def fill_blocks(text: str, blocks: dict[str, str]) -> str:
    """Replace the content between ``<!-- BEGIN name -->`` and ``<!-- END name -->``."""
    for name, content in blocks.items():
        begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
        head, found, rest = text.partition(begin)
        if not found:
            raise KeyError(f"marker {begin} missing")
        _, found, tail = rest.partition(end)
        if not found:
            raise KeyError(f"marker {end} missing")
        text = f"{head}{begin}\n{content}\n{end}{tail}"
    return text
