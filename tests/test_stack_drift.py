"""Config drift: the proxy runs another config than the manifests render (pure and against a
fake /model/info; the local stack's path runs for real in test_stack.py)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from benchctl.errors import ProxyAuthError
from benchctl.litellm.client import LiteLLMClient
from benchctl.litellm.config import render_config
from benchctl.manifests.loader import load_repository
from benchctl.reconcile.desired import DesiredState
from benchctl.reconcile.engine import _add_config_drift
from benchctl.reconcile.plan import Plan, Summary, config_drift
from benchctl.render.plan import to_json, to_markdown, to_text
from benchctl.settings import Settings

from conftest import REPO_ROOT


def rendered() -> list[dict]:
    return render_config(load_repository(REPO_ROOT).repository)["model_list"]


def model_info(entries: list[dict]) -> list[dict]:
    """What /model/info answers: no api_key, extra defaults, masked key-like values."""
    answer = []
    for entry in copy.deepcopy(entries):
        params = entry["litellm_params"]
        params.pop("api_key", None)
        params["use_in_pass_through"] = False
        answer.append({**entry, "litellm_params": params, "model_info": {"id": "x"}})
    return answer


def empty_plan() -> Plan:
    return Plan(
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        lineage="00000000-0000-0000-0000-000000000000",
        serial=1,
        keys_checked=True,
        desired=DesiredState(
            objects=[], sessions=[], manifest_commit=None, manifest_dirty=None, repo_path="."
        ),
        actions=[],
        summary=Summary(),
    )


def test_same_models_are_no_drift():
    models = rendered()
    assert config_drift(models, model_info(models), source="proxy", fix="f") is None
    assert config_drift(models, copy.deepcopy(models), source="local-stack", fix="f") is None


def test_added_removed_and_changed_variants_are_named():
    models = rendered()
    running = model_info(models)
    running = [m for m in running if m["model_name"] != "sdk-sim-fast"]
    running.append({"model_name": "gone-variant", "litellm_params": {"model": "openai/x"}})
    changed = next(m for m in running if m["model_name"] == "sdk-sim-balanced")
    changed["litellm_params"]["temperature"] = 0.7
    drift = config_drift(models, running, source="proxy", fix="restart it")
    assert drift is not None
    assert drift.added == ["sdk-sim-fast"]
    assert drift.removed == ["gone-variant"]
    assert drift.changed == ["sdk-sim-balanced"]


def test_proxy_comparison_ignores_api_base_and_masked_values():
    models = rendered()
    running = model_info(models)
    for entry in running:
        entry["litellm_params"]["api_base"] = "http://elsewhere:9/v1"
        if "seed" in entry["litellm_params"]:
            entry["litellm_params"]["seed"] = "7***"  # masked by the proxy
    assert config_drift(models, running, source="proxy", fix="f") is None


def test_drift_does_not_change_the_fingerprint_and_is_rendered():
    plan = empty_plan()
    before = plan.fingerprint
    plan.config_drift = config_drift(rendered(), [], source="local-stack", fix="run it again")
    assert plan.fingerprint == before
    payload = json.loads(to_json(plan))
    assert payload["config_drift"]["source"] == "local-stack"
    assert "sdk-sim-fast" in payload["config_drift"]["added"]
    assert payload["fingerprint"] == before
    markdown = to_markdown(plan)
    assert "**Config drift.**" in markdown and "run it again" in markdown
    console = Console(record=True, width=200)
    to_text(plan, console)
    text = console.export_text()
    assert "config drift" in text and "sdk-sim-fast" in text and "run it again" in text


def client_answering(handler) -> LiteLLMClient:
    return LiteLLMClient("http://proxy.test", "sk-master", transport=httpx.MockTransport(handler))


def test_any_proxy_is_compared_through_model_info(tmp_path: Path):
    running = model_info([m for m in rendered() if m["model_name"] != "sdk-sim-slow-cheap"])
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json={"data": running})

    plan = empty_plan()
    settings = Settings(root=tmp_path, database_url=None, proxy_url="http://proxy.test")
    with client_answering(handler) as client:
        _add_config_drift(plan, settings, load_repository(REPO_ROOT).repository, client)
    assert seen == ["/model/info"]  # one request
    assert plan.config_drift is not None
    assert plan.config_drift.added == ["sdk-sim-slow-cheap"]
    assert "restart your LiteLLM deployment" in plan.config_drift.fix


def test_unreadable_model_info_is_a_warning_not_an_error(tmp_path: Path):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"detail": "Not Found"})

    plan = empty_plan()
    settings = Settings(root=tmp_path, database_url=None, proxy_url="http://proxy.test")
    with client_answering(handler) as client:
        _add_config_drift(plan, settings, load_repository(REPO_ROOT).repository, client)
    assert plan.config_drift is None
    assert any("config drift was not checked" in w for w in plan.warnings)


def test_a_wrong_master_key_still_fails(tmp_path: Path):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": "Authentication Error"}})

    settings = Settings(root=tmp_path, database_url=None, proxy_url="http://proxy.test")
    with client_answering(handler) as client, pytest.raises(ProxyAuthError):
        _add_config_drift(empty_plan(), settings, load_repository(REPO_ROOT).repository, client)
