"""Harness profile templates: rendering rules and the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchctl.manifests.loader import load_manifest
from benchctl.manifests.models import HarnessProfile
from benchctl.manifests.templates import TEMPLATE_VARIABLES, render, resolved_settings


def profile(**spec: object) -> HarnessProfile:
    base = {
        "harness": "test",
        "protocol": "openai-chat",
        "env": {"OPENAI_API_KEY": "{{ session.key }}"},
        "launch": "run",
        "settings": {"flag": {"type": "boolean", "default": False}},
    }
    return HarnessProfile.model_validate(
        {
            "apiVersion": "benchctl/v1",
            "kind": "HarnessProfile",
            "metadata": {"name": "t"},
            "spec": base | spec,
        }
    )


def context(p: HarnessProfile, **settings: object) -> dict:
    ctx = {group: dict(values) for group, values in TEMPLATE_VARIABLES.items()}
    ctx["variant"]["settings"] = resolved_settings(p, settings)
    return ctx


def test_empty_arguments_are_dropped_and_command_is_quoted():
    p = profile(args=["{{ '--flag' if variant.settings.flag else '' }}", "two words", "it's"])
    out = render(p, context(p))
    assert out.args == ["two words", "it's"]
    assert out.command == "run 'two words' 'it'\"'\"'s'"
    assert render(p, context(p, flag=True)).args[0] == "--flag"


def test_settings_resolve_to_variant_value_then_default():
    p = profile(settings={"a": {"type": "integer", "default": 3}, "b": {"type": "string"}})
    assert resolved_settings(p, {"b": "x"}) == {"a": 3, "b": "x"}
    assert resolved_settings(p, {"a": 5}) == {"a": 5, "b": None}


@pytest.mark.parametrize(
    ("template", "code"),
    [
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", {"BC500", "BC501"}),
        ("{{ session.kye }}", {"BC501"}),
        ("{{ session.key ", {"BC500"}),
        ("{% for %}", {"BC500"}),
        ("{{ 1 / 0 }}", {"BC500"}),
    ],
)
def test_unsafe_or_broken_templates_are_diagnosed(tmp_path: Path, template: str, code: set[str]):
    folder = tmp_path / "harness_profiles"
    folder.mkdir()
    path = folder / "t.yaml"
    path.write_text(
        "apiVersion: benchctl/v1\nkind: HarnessProfile\nmetadata: {name: t}\nspec:\n"
        "  harness: test\n  protocol: openai-chat\n"
        f"  env:\n    X: {template!r}\n  launch: run\n",
        encoding="utf-8",
    )
    loaded, problems = load_manifest(path)
    assert loaded is not None  # the profile itself is valid; its template is not
    assert [(d.line, d.col) for d in problems] == [(8, 8)]
    assert problems[0].code in code
