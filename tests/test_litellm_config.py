"""The LiteLLM proxy config rendered from manifests, its CLI, and the real proxy running it."""

from __future__ import annotations

import importlib.util
import math
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
import yaml
from typer.testing import CliRunner

from benchctl.cli.render import render_app
from benchctl.errors import ManifestError, UsageError
from benchctl.litellm.config import (
    SIMULATOR_API_KEY,
    config_fingerprint,
    dump_config,
    render_config,
    with_redis,
)
from benchctl.manifests.catalog import Repository
from benchctl.manifests.loader import load_repository
from benchctl.manifests.secrets import redact

from conftest import REPO_ROOT
from minirepo import write_minirepo
from proxy_stack import ProxyStack, unavailable


@pytest.fixture(scope="module")
def repository() -> Repository:
    result = load_repository(REPO_ROOT)
    assert result.ok
    return result.repository


def _entries(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["model_name"]: entry for entry in config["model_list"]}


def test_one_model_alias_per_variant(repository: Repository):
    config = render_config(repository)
    names = [entry["model_name"] for entry in config["model_list"]]
    assert names == sorted(repository.variants)
    for name, entry in _entries(config).items():
        variant = repository.variants[name].model.spec
        provider = repository.providers[variant.provider].model.spec
        params = entry["litellm_params"]
        assert params["model"] == provider.route + variant.model
        assert params.get("api_base") == provider.api_base


def test_several_instances_share_redis_and_never_cache_responses(repository: Repository):
    single = render_config(repository)
    scaled = with_redis(single)
    assert scaled["model_list"] == single["model_list"]
    assert "coordination_redis" not in single["general_settings"]  # not mutated
    general = scaled["general_settings"]
    assert general["coordination_redis"] == {
        "host": "os.environ/REDIS_HOST",
        "port": "os.environ/REDIS_PORT",
    }
    assert general["use_redis_transaction_buffer"] is True
    assert general["user_api_key_cache_ttl"] == 5
    assert scaled["litellm_settings"]["enable_redis_auth_cache"] is True
    # A response cache would answer a benchmark's repeated prompt without the provider.
    assert "cache" not in scaled["litellm_settings"]
    shown = _cli("--root", str(REPO_ROOT), "--redis")
    assert shown.exit_code == 0, shown.output
    assert yaml.safe_load(shown.output) == scaled


def test_provider_keys_are_env_references(repository: Repository):
    entries = _entries(render_config(repository))
    assert entries["claude-code-sonnet-4-5"]["litellm_params"]["api_key"] == (
        "os.environ/ANTHROPIC_API_KEY"
    )
    assert entries["codex-gpt-5-codex"]["litellm_params"]["api_key"] == "os.environ/OPENAI_API_KEY"
    assert entries["aider-sonnet-4-5-openrouter-t0"]["litellm_params"]["api_key"] == (
        "os.environ/OPENROUTER_API_KEY"
    )
    # The simulator checks no key, but LiteLLM's openai/ route needs one to send the request.
    assert entries["sdk-sim-fast"]["litellm_params"]["api_key"] == SIMULATOR_API_KEY


def test_no_secret_values_whatever_the_environment(
    repository: Repository, monkeypatch: pytest.MonkeyPatch
):
    secrets = {
        "OPENAI_API_KEY": "sk-live-" + "a" * 40,
        "ANTHROPIC_API_KEY": "sk-ant-" + "b" * 40,
        "OPENROUTER_API_KEY": "sk-or-" + "c" * 40,
        "LITELLM_MASTER_KEY": "sk-master-" + "d" * 30,
        "DATABASE_URL": "postgresql://litellm:hunter2@db:5432/litellm",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    text = dump_config(render_config(repository))
    for name, value in secrets.items():
        assert value not in text
        assert f"os.environ/{name}" in text
    assert redact(text) == text, "the config holds something shaped like a secret"
    assert "hunter2" not in text and "postgresql://" not in text


def test_settings(repository: Repository):
    config = render_config(repository)
    assert config["general_settings"] == {
        "master_key": "os.environ/LITELLM_MASTER_KEY",
        "database_url": "os.environ/DATABASE_URL",
        "proxy_batch_write_at": 1,
        "disable_spend_logs": False,
    }
    settings = config["litellm_settings"]
    assert settings["callbacks"] == ["prometheus"]
    assert settings["require_auth_for_metrics_endpoint"] is False
    assert settings["turn_off_message_logging"] is True
    assert settings["custom_prometheus_metadata_labels"] == [
        "metadata.benchctl.experiment",
        "metadata.benchctl.variant",
        "metadata.benchctl.task_card",
    ]
    # Upstream errors reach the harness and the logs as they happened, not retried away.
    assert config["router_settings"] == {"num_retries": 0}
    config = render_config(repository, batch_write_seconds=30)
    assert config["general_settings"]["proxy_batch_write_at"] == 30
    with pytest.raises(ValueError, match="at least 1 second"):
        render_config(repository, batch_write_seconds=0)


def test_every_setting_exists_in_litellm(repository: Repository):
    # Read from LiteLLM's source rather than imported: importing litellm fetches its cost map.
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        unavailable("needs the proxy extra: litellm is not installed")
    package = Path(spec.origin).parent
    module = (package / "__init__.py").read_text(encoding="utf-8")
    proxy_server = (package / "proxy" / "proxy_server.py").read_text(encoding="utf-8")
    config = render_config(repository)
    for name in config["litellm_settings"]:
        assert re.search(rf"^{name}\s*:", module, re.M), f"litellm has no setting {name}"
    for name in config["general_settings"]:
        assert f'general_settings.get("{name}"' in proxy_server, f"the proxy ignores {name}"
    router = (package / "router.py").read_text(encoding="utf-8")
    for name in config["router_settings"]:
        assert re.search(rf"^\s+{name}: ", router, re.M), f"the router has no setting {name}"


def test_prices_are_per_token(repository: Repository):
    entries = _entries(render_config(repository))
    for name, entry in entries.items():
        variant = repository.variants[name].model.spec
        prices = repository.providers[variant.provider].model.spec.models[variant.model].prices
        info = entry["model_info"]
        assert math.isclose(info["input_cost_per_token"], prices.input / 1e6)
        assert math.isclose(info["output_cost_per_token"], prices.output / 1e6)
        if prices.cache_read is None:
            assert "cache_read_input_token_cost" not in info
        else:
            assert math.isclose(info["cache_read_input_token_cost"], prices.cache_read / 1e6)
        if prices.cache_write is None:
            assert "cache_creation_input_token_cost" not in info
        else:
            assert math.isclose(info["cache_creation_input_token_cost"], prices.cache_write / 1e6)
    # Exact decimal, not the nearest float of a float division.
    assert entries["sdk-sim-balanced"]["model_info"]["cache_read_input_token_cost"] == 3e-07


def test_request_params_and_extra(repository: Repository, tmp_path: Path):
    entries = _entries(render_config(repository))
    assert entries["sdk-sim-fast"]["litellm_params"]["temperature"] == 0
    assert entries["sdk-sim-fast"]["litellm_params"]["seed"] == 7
    assert "temperature" not in entries["claude-code-sonnet-4-5"]["litellm_params"]
    variant = """\
apiVersion: benchctl/v1
kind: Variant
metadata: {name: fast}
spec:
  provider: sim
  model: sim-fast
  harness_profile: script
  request:
    top_p: 0.5
    max_tokens: 100
    reasoning_effort: low
    extra: {drop_params: true}
"""
    root = write_minirepo(tmp_path, variants__fast=variant)
    result = load_repository(root)
    assert result.ok, result.errors
    params = render_config(result.repository)["model_list"][0]["litellm_params"]
    assert params == {
        "drop_params": True,
        "model": "openai/sim-fast",
        "api_base": "http://127.0.0.1:8799/v1",
        "api_key": SIMULATOR_API_KEY,
        "top_p": 0.5,
        "max_tokens": 100,
        "reasoning_effort": "low",
    }


@pytest.mark.parametrize(
    "extra",
    [
        "{model: elsewhere/x}",
        '{api_base: "http://evil.test"}',
        '{api_key: "os.environ/LITELLM_MASTER_KEY"}',
        "{aws_secret_access_key: x}",
        '{extra_headers: {X-Leak: "os.environ/LITELLM_MASTER_KEY"}}',
        '{metadata: ["os.environ/DATABASE_URL"]}',
    ],
)
def test_extra_cannot_route_or_read_the_environment(extra: str, tmp_path: Path):
    variant = f"""\
apiVersion: benchctl/v1
kind: Variant
metadata: {{name: fast}}
spec:
  provider: sim
  model: sim-fast
  harness_profile: script
  request:
    extra: {extra}
"""
    result = load_repository(write_minirepo(tmp_path, variants__fast=variant))
    assert [d.code for d in result.errors] == ["BC214"]


def test_api_base_overrides(repository: Repository):
    config = render_config(repository, api_base_overrides={"sim": "http://127.0.0.1:9/v1"})
    entries = _entries(config)
    assert entries["sdk-sim-fast"]["litellm_params"]["api_base"] == "http://127.0.0.1:9/v1"
    assert entries["codex-gpt-5-codex"]["litellm_params"]["api_base"] == (
        "https://api.openai.com/v1"
    )
    with pytest.raises(ValueError, match="unknown provider"):
        render_config(repository, api_base_overrides={"nope": "http://x"})


def test_dump_is_deterministic_yaml_with_a_header(repository: Repository):
    config = render_config(repository)
    text = dump_config(config)
    assert text == dump_config(render_config(repository))
    assert text.startswith("# LiteLLM proxy config rendered by `benchctl render litellm-config`")
    assert "proxy_batch_write_at is 1s" in text and "1s suits a local proxy" in text
    assert yaml.safe_load(text) == config
    slow = dump_config(render_config(repository, batch_write_seconds=20))
    assert "every 20 to 25s" in slow and "1s suits" not in slow


def test_fingerprint(repository: Repository):
    config = render_config(repository)
    fingerprint = config_fingerprint(config)
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint)
    assert config_fingerprint(render_config(repository)) == fingerprint
    reordered = dict(reversed(list(config.items())))
    assert config_fingerprint(reordered) == fingerprint
    moved = render_config(repository, api_base_overrides={"sim": "http://127.0.0.1:9/v1"})
    assert config_fingerprint(moved) != fingerprint


# --- the CLI ---------------------------------------------------------------------------------


def _cli(*args: str) -> Any:
    # A stand-in for benchctl's app, which mounts render_app the same way.
    app = typer.Typer()
    app.add_typer(render_app, name="render")
    return CliRunner().invoke(app, ["render", "litellm-config", *args])


def test_cli_prints_the_config(repository: Repository):
    result = _cli("--root", str(REPO_ROOT))
    assert result.exit_code == 0, result.output
    assert result.stdout == dump_config(render_config(repository))


def test_cli_writes_a_file(repository: Repository, tmp_path: Path):
    out = tmp_path / "litellm.yaml"
    result = _cli(
        "--root",
        str(REPO_ROOT),
        "--out",
        str(out),
        "--api-base",
        "sim=http://127.0.0.1:9000/v1",
        "--batch-write-interval",
        "10",
    )
    assert result.exit_code == 0, result.output
    expected = render_config(
        repository, api_base_overrides={"sim": "http://127.0.0.1:9000/v1"}, batch_write_seconds=10
    )
    assert out.read_text(encoding="utf-8") == dump_config(expected)
    assert result.stdout == ""
    assert f"{len(repository.variants)} model aliases" in result.stderr
    assert config_fingerprint(expected) in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--api-base", "sim"], "is not PROVIDER=URL"),
        (["--api-base", "nope=http://x"], "provider 'nope', which is not defined"),
        (["--api-base", "sim=ftp://x"], "not an http(s) URL"),
    ],
)
def test_cli_refuses_bad_overrides(args: list[str], message: str):
    result = _cli("--root", str(REPO_ROOT), *args)
    assert isinstance(result.exception, UsageError)
    assert message in str(result.exception)


def test_cli_refuses_invalid_manifests(tmp_path: Path):
    root = tmp_path / "repo"
    for folder in ("providers", "harness_profiles", "task_cards", "variants", "experiments"):
        shutil.copytree(REPO_ROOT / folder, root / folder)
    broken = root / "variants" / "sdk-sim-fast.yaml"
    broken.write_text(broken.read_text().replace("model: sim-fast", "model: sim-nope"))
    result = _cli("--root", str(root))
    assert isinstance(result.exception, ManifestError)
    assert result.exception.diagnostics


def test_cli_refuses_an_empty_root_and_a_zero_interval(tmp_path: Path):
    result = _cli("--root", str(tmp_path))
    assert isinstance(result.exception, UsageError)
    assert "no manifests found" in str(result.exception)
    result = _cli("--root", str(REPO_ROOT), "--batch-write-interval", "0")
    assert result.exit_code == 2


# --- the real proxy, running the rendered config ----------------------------------------------


def test_the_proxy_serves_every_variant(litellm_proxy: ProxyStack, repository: Repository):
    with litellm_proxy.client() as client:
        assert client.model_aliases() == set(repository.variants)


def test_spend_and_metrics(litellm_proxy: ProxyStack, repository: Repository):
    alias = f"bctest-{uuid.uuid4().hex[:8]}-cfg"
    with litellm_proxy.client() as client:
        key = client.generate_key(
            alias=alias,
            models=["sdk-sim-fast"],
            duration_seconds=600,
            max_budget=1.0,
            metadata={
                "benchctl": {"experiment": "demo", "variant": "sdk-sim-fast", "task_card": "tc"}
            },
        )
        try:
            answer = httpx.post(
                f"{litellm_proxy.url}/v1/chat/completions",
                headers={"Authorization": f"Bearer {key.key}"},
                json={
                    "model": "sdk-sim-fast",
                    "messages": [{"role": "user", "content": "Count the files in the repo."}],
                },
                timeout=60,
            )
            assert answer.status_code == 200, answer.text
            # LiteLLM's cost is our price table applied to the usage it saw.
            usage = answer.json()["usage"]
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
            prices = repository.providers["sim"].model.spec.models["sim-fast"].prices
            assert prices.cache_read is not None
            expected = (
                (usage["prompt_tokens"] - cached) * prices.input
                + cached * prices.cache_read
                + usage["completion_tokens"] * prices.output
            ) / 1e6
            assert math.isclose(
                float(answer.headers["x-litellm-response-cost"]), expected, rel_tol=1e-9
            )
            metrics = httpx.get(f"{litellm_proxy.url}/metrics/", timeout=30).text
            series = [
                line
                for line in metrics.splitlines()
                if line.startswith("litellm_proxy_total_requests_metric_total{")
                and f'api_key_alias="{alias}"' in line
            ]
            assert len(series) == 1, series
            for label in (
                f'hashed_api_key="{key.token}"',
                'metadata_benchctl_experiment="demo"',
                'metadata_benchctl_variant="sdk-sim-fast"',
                'metadata_benchctl_task_card="tc"',
                'status_code="200"',
            ):
                assert label in series[0]
        finally:
            client.delete_keys(tokens=[key.token])
