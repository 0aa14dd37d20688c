"""The example repository is what new users copy: it must validate and be right for the real
harnesses (env var names and routes as ../shared/harnesses.md records them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from benchctl.manifests.loader import discover, load_repository
from benchctl.manifests.models import KINDS, HarnessProfile
from benchctl.manifests.schemas import schema_filename
from benchctl.manifests.templates import TEMPLATE_VARIABLES, render, resolved_settings

from conftest import REPO_ROOT

RESULT = load_repository(REPO_ROOT)
REPO = RESULT.repository
PROXY = "http://127.0.0.1:4000"
KEY = "sk-session-test"
ALIAS = "bench-variant"
FILES = discover(REPO_ROOT)


def test_example_repository_is_valid(run_cli, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    result = run_cli("validate")
    assert result.exit_code == 0, result.output
    assert RESULT.diagnostics == []


def test_example_repository_is_realistic():
    assert {"anthropic", "openai", "openrouter", "sim"} <= set(REPO.providers)
    assert {"claude-code", "codex-cli", "aider", "opencode", "openai-sdk-script"} <= set(
        REPO.harness_profiles
    )
    assert len(REPO.variants) >= 5
    assert len(REPO.task_cards) >= 4
    assert len(REPO.experiments) >= 2
    assert REPO.providers["sim"].model.spec.simulator is not None
    for name in ("anthropic", "openai", "openrouter"):
        assert REPO.providers[name].model.spec.api_key_env, name


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_modeline_and_json_schema(path: Path):
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    expected = f"# yaml-language-server: $schema=../schemas/{schema_filename(data['kind'])}"
    assert text.splitlines()[0] == expected
    schema = json.loads((REPO_ROOT / "schemas" / schema_filename(data["kind"])).read_text())
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))
    assert errors == []


def _render(profile_name: str, settings: dict[str, Any] | None = None):
    profile: HarnessProfile = REPO.harness_profiles[profile_name].model
    context = {group: dict(values) for group, values in TEMPLATE_VARIABLES.items()}
    context["proxy"]["url"] = PROXY
    context["session"]["key"] = KEY
    context["variant"]["model_alias"] = ALIAS
    context["variant"]["settings"] = resolved_settings(profile, settings or {})
    return profile, render(profile, context)


def test_claude_code_profile():
    profile, out = _render("claude-code")
    assert profile.spec.protocol == "anthropic-messages"
    assert out.env["ANTHROPIC_BASE_URL"] == PROXY  # no /v1: Claude Code appends it
    assert KEY in (out.env.get("ANTHROPIC_AUTH_TOKEN"), out.env.get("ANTHROPIC_API_KEY"))
    assert out.env["ANTHROPIC_MODEL"] == ALIAS
    assert out.env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"


def test_codex_cli_profile():
    profile, out = _render("codex-cli")
    assert profile.spec.protocol == "openai-responses"
    assert out.env["LITELLM_API_KEY"] == KEY
    joined = " ".join([*out.args, out.launch])
    assert "model_provider=litellm" in joined
    assert f'base_url="{PROXY}/v1"' in joined
    assert 'wire_api="responses"' in joined
    assert 'env_key="LITELLM_API_KEY"' in joined
    assert ALIAS in joined


def test_aider_profile():
    profile, out = _render("aider")
    assert profile.spec.protocol == "openai-chat"
    assert out.env["OPENAI_API_BASE"] == f"{PROXY}/v1"
    assert out.env["OPENAI_API_KEY"] == KEY
    assert f"openai/{ALIAS}" in " ".join([*out.args, out.launch])


def test_opencode_profile():
    profile, out = _render("opencode")
    assert profile.spec.protocol == "openai-chat"
    assert out.env["LITELLM_API_KEY"] == KEY
    config = json.loads(out.env["OPENCODE_CONFIG_CONTENT"])
    assert config["model"] == f"litellm/{ALIAS}"
    provider = config["provider"]["litellm"]
    assert provider["npm"] == "@ai-sdk/openai-compatible"
    assert provider["options"]["baseURL"] == f"{PROXY}/v1"
    assert provider["options"]["apiKey"] == "{env:LITELLM_API_KEY}"
    assert ALIAS in provider["models"]


def test_openai_sdk_profile():
    profile, out = _render("openai-sdk-script")
    assert profile.spec.protocol == "openai-chat"
    assert out.env["OPENAI_BASE_URL"] == f"{PROXY}/v1"
    assert out.env["OPENAI_API_KEY"] == KEY


def test_every_variant_renders_its_profile():
    for variant in REPO.variants.values():
        spec = variant.model.spec
        _render(spec.harness_profile, dict(spec.harness_settings))


def test_kinds_live_in_their_folders():
    for path in FILES:
        kind = yaml.safe_load(path.read_text(encoding="utf-8"))["kind"]
        assert path.parent.name == KINDS[kind][1]
