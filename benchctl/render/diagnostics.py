"""Validation results as terminal text, JSON, or GitHub Actions annotations."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape

from benchctl.manifests.diagnostics import CODES, Diagnostic
from benchctl.manifests.loader import ValidationResult
from benchctl.manifests.models import KINDS
from benchctl.render.text import printable

JSON_FORMAT_VERSION = 1


def _where(d: Diagnostic) -> str:
    return f"{d.path}:{d.line}:{d.col}" if d.line else f"{d.path}"


def summary_line(result: ValidationResult) -> str:
    errors = result.errors
    if errors:
        files = len({d.path for d in errors})
        return (
            f"{len(errors)} error{'s' * (len(errors) != 1)} in {files} of"
            f" {result.files_checked} file{'s' * (result.files_checked != 1)}."
        )
    counts = {kind: len(result.repository.by_kind(kind)) for kind in KINDS}
    parts = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    warnings = len(result.diagnostics)
    tail = f", {warnings} warning{'s' * (warnings != 1)}" if warnings else ""
    return f"{result.files_checked} manifest file(s) valid ({parts or 'none loaded'}){tail}."


def print_text(result: ValidationResult, console: Console) -> None:
    for d in result.diagnostics:
        colour = "red" if d.severity == "error" else "yellow"
        console.print(
            f"[bold]{escape(printable(_where(d)))}:[/bold] [{colour}]{d.code}[/{colour}]"
            f" {escape(printable(d.message))}",
            highlight=False,
        )
        console.print(f"    [dim]hint:[/dim] {escape(d.effective_hint)}", highlight=False)
    style = "red" if result.errors else "green"
    console.print(f"[{style}]{escape(summary_line(result))}[/{style}]", highlight=False)


def to_json(result: ValidationResult) -> str:
    payload = {
        "format_version": JSON_FORMAT_VERSION,
        "ok": result.ok,
        "files_checked": result.files_checked,
        "diagnostics": [
            {
                "path": str(d.path),
                "line": d.line,
                "col": d.col,
                "code": d.code,
                "title": CODES[d.code][0],
                "severity": d.severity,
                "message": d.message,
                "hint": d.effective_hint,
            }
            for d in result.diagnostics
        ],
    }
    return json.dumps(payload, indent=2)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def to_github(result: ValidationResult) -> str:
    """Workflow commands GitHub Actions turns into annotations on the pull request's files."""
    lines = []
    for d in result.diagnostics:
        props = [f"file={_escape_property(str(d.path))}"]
        if d.line:
            props += [f"line={d.line}", f"col={d.col}"]
        props.append(f"title={_escape_property(d.code + ' ' + CODES[d.code][0])}")
        text = _escape_data(f"{d.message} (hint: {d.effective_hint})")
        lines.append(f"::{d.severity} {','.join(props)}::{text}")
    lines.append(summary_line(result))
    return "\n".join(lines)
