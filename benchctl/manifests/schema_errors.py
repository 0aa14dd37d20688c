"""Turn pydantic validation errors into located diagnostics with actionable messages."""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterator
from dataclasses import replace
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from benchctl.manifests.diagnostics import Diagnostic
from benchctl.manifests.yaml_source import PathSegment, YamlDocument

_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


def _dotted(loc: tuple[PathSegment, ...]) -> str:
    out = ""
    for seg in loc:
        out += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if out else str(seg))
    return out or "(top level)"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    kind = {int: "integer", float: "number", str: "string"}.get(type(value), type(value).__name__)
    text = repr(value)
    return f"{kind} {text if len(text) <= 40 else text[:37] + '...'}"


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def _fields_at(model: type[BaseModel], loc: tuple[PathSegment, ...]) -> list[str]:
    """Field names of the model found at ``loc`` below ``model`` (empty if none is)."""
    current: Any = model
    for seg in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(seg))
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) is list:
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _clean_loc(loc: tuple[Any, ...], doc: YamlDocument) -> tuple[tuple[Any, ...], bool]:
    """The error's path in the document, and whether it is about a mapping key.

    Segments pydantic adds for union branches and validators (``str``, ``function-after[...]``)
    are dropped; a missing or unknown key is kept as the last segment, for the message.
    """
    cleaned: list[Any] = []
    value: Any = doc.data
    for seg in loc:
        if seg == "[key]":
            return tuple(cleaned), True
        in_dict = isinstance(value, dict) and seg in value
        in_list = isinstance(value, list) and isinstance(seg, int) and 0 <= seg < len(value)
        if in_dict or in_list:
            value = value[seg]
            cleaned.append(seg)
        elif isinstance(value, dict) and isinstance(seg, str) and "[" not in seg:
            cleaned.append(seg)
            break
    return tuple(cleaned), False


def _diagnostics(model: type[BaseModel], error: dict[str, Any], doc: YamlDocument) -> Diagnostic:
    kind: str = error["type"]
    loc, is_key = _clean_loc(tuple(error["loc"]), doc)
    where = _dotted(loc)
    if kind == "missing":
        line, col = doc.locate(loc[:-1], key=True)
        parent = _dotted(loc[:-1])
        hint = f"add `{loc[-1]}:` under `{parent}`" if loc[:-1] else f"add `{loc[-1]}:`"
        return Diagnostic(doc.path, line, col, "BC202", f"missing required field `{where}`", hint)
    if kind == "extra_forbidden":
        line, col = doc.locate(loc, key=True)
        allowed = _fields_at(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean `{close[0]}`?" if close else ""
        if allowed:
            hint = (hint + " " if hint else "") + "allowed here: " + ", ".join(allowed)
        return Diagnostic(doc.path, line, col, "BC203", f"unknown field `{where}`", hint)
    line, col = doc.locate(loc, key=is_key)
    if is_key:
        msg = error["msg"][0].lower() + error["msg"][1:]
        return Diagnostic(
            doc.path, line, col, "BC205", f"key {loc[-1]!r} in `{_dotted(loc[:-1])}`: {msg}"
        )
    if kind.startswith("BC"):
        return Diagnostic(doc.path, line, col, kind, f"`{where}`: {error['msg']}")
    if kind in _EXPECTED:
        got = _describe(error.get("input"))
        hint = ""
        if kind == "string_type" and isinstance(error.get("input"), int | float | bool):
            hint = "YAML read this as a number or boolean; quote it to make it a string"
        return Diagnostic(
            doc.path, line, col, "BC204", f"`{where}`: expected {_EXPECTED[kind]}, got {got}", hint
        )
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        options = [o.strip(" '") for o in expected.replace(" or ", ", ").split(",")]
        close = difflib.get_close_matches(str(error.get("input")), options, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"expected {expected}"
        msg = f"`{where}`: {_describe(error.get('input'))} is not one of {expected}"
        return Diagnostic(doc.path, line, col, "BC205", msg, hint)
    msg = error["msg"][0].lower() + error["msg"][1:]
    return Diagnostic(doc.path, line, col, "BC205", f"`{where}`: {msg}")


def schema_diagnostics(
    model: type[BaseModel], exc: ValidationError, doc: YamlDocument
) -> Iterator[Diagnostic]:
    """One diagnostic per distinct problem. A value that fits no branch of a union gets one
    pydantic error per branch: they become one diagnostic listing every type accepted."""
    found: dict[tuple[int, int, str], Diagnostic] = {}
    expected: dict[tuple[int, int, str], list[str]] = {}
    for error in exc.errors():
        diagnostic = _diagnostics(model, dict(error), doc)
        key = (diagnostic.line, diagnostic.col, diagnostic.code)
        if error["type"] in _EXPECTED:
            expected.setdefault(key, [])
            if _EXPECTED[error["type"]] not in expected[key]:
                expected[key].append(_EXPECTED[error["type"]])
        found.setdefault(key, diagnostic)
    for key, diagnostic in found.items():
        types = expected.get(key, [])
        if len(types) > 1:
            accepted = ", ".join(types[:-1]) + " or " + types[-1]
            message = re.sub(r"expected .*, got", f"expected {accepted}, got", diagnostic.message)
            diagnostic = replace(diagnostic, message=message)
        yield diagnostic
