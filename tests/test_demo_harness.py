"""The SDK script harness, through the real proxy with real session keys and both SDKs."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import psycopg
import pytest

from benchctl.demo.harness import SessionRun, read_env_file, run_session
from benchctl.litellm.client import hash_key

from conftest import REPO_ROOT
from proxy_stack import session_env

TASK = "fix-median"


@pytest.fixture
def opened(example_repo, litellm_proxy, database_url, run_cli):
    """Two open sessions of the demo experiment, one per SDK, with their env files."""
    root = example_repo
    env = session_env(litellm_proxy, database_url)
    for variant in ("sdk-sim-fast", "sdk-anthropic-sim-fast"):
        added = run_cli("session", "add", "demo", variant, TASK, "--root", str(root), env=env)
        assert added.exit_code == 0, added.output
    applied = run_cli("apply", "--auto-approve", "--root", str(root), env=env)
    assert applied.exit_code == 0, applied.output
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT variant, id::text FROM sessions").fetchall()
    return {variant: root / ".benchctl" / "sessions" / f"{sid}.env" for variant, sid in rows}


def spend_rows(litellm_proxy, key_hash: str, expected: int) -> list[tuple]:
    """The proxy's own log rows of one key, once its batch writer has flushed them."""
    deadline = time.monotonic() + 30
    while True:
        with psycopg.connect(litellm_proxy.database_url) as conn:
            rows = conn.execute(
                'SELECT status, model_group FROM "LiteLLM_SpendLogs" WHERE api_key = %s',
                (key_hash,),
            ).fetchall()
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def fresh_workspace(tmp_path) -> Path:
    return shutil.copytree(REPO_ROOT / "tasks" / TASK / "workspace", tmp_path / "workspace")


@pytest.mark.parametrize("variant", ["sdk-sim-fast", "sdk-anthropic-sim-fast"])
def test_harness_works_a_session_from_its_env_file_alone(opened, litellm_proxy, variant, tmp_path):
    env = read_env_file(opened[variant])
    base_url = "ANTHROPIC_BASE_URL" if "anthropic" in variant else "OPENAI_BASE_URL"
    assert env[base_url].startswith(litellm_proxy.url)
    assert env["BENCHCTL_MODEL"] == variant
    workspace = fresh_workspace(tmp_path)
    source = (workspace / "stats_utils" / "__init__.py").read_text()

    run = run_session({**env, "BENCHCTL_MAX_TURNS": "4"}, workspace)

    # The simulated model edits the file the task is about (through LiteLLM's translation of
    # the tool call for the Anthropic SDK), hears back, and ends the session.
    assert run.finished, run
    assert run.written == ["stats_utils/__init__.py"]
    assert (workspace / "stats_utils" / "__init__.py").read_text() != source
    key = next(v for k, v in env.items() if k.endswith(("_API_KEY", "_AUTH_TOKEN")))
    rows = spend_rows(litellm_proxy, hash_key(key), expected=run.requests)
    # Every request is exactly one logged call with the session's own key, to its alias.
    assert len(rows) == run.requests >= 2
    assert {model for _, model in rows} == {variant}
    assert sum(status == "success" for status, _ in rows) == run.requests - len(run.failures)


def test_a_refused_key_is_a_failed_request_not_a_crash(opened, tmp_path):
    env = {**read_env_file(opened["sdk-sim-fast"]), "BENCHCTL_MAX_TURNS": "2"}
    env["OPENAI_API_KEY"] = "sk-not-a-session-key"
    run = run_session(env, fresh_workspace(tmp_path))
    assert run == SessionRun(
        requests=2,
        failures=["request 1: AuthenticationError", "request 2: AuthenticationError"],
    )


def test_env_file_is_read_as_a_shell_would(tmp_path):
    path = tmp_path / "s.env"
    path.write_text(
        "# comment\nexport A='two words'\nexport B=plain\nexport TASK_PROMPT='line one\nline two'\n"
    )
    assert read_env_file(path) == {
        "A": "two words",
        "B": "plain",
        "TASK_PROMPT": "line one\nline two",
    }


def test_workspace_runs_the_grid_headless_and_leaves_the_repository_alone(tmp_path):
    from benchctl.demo import workspace
    from benchctl.manifests.loader import load_valid_repository

    before = (REPO_ROOT / "experiments" / "demo.yaml").read_text()
    path = workspace.prepare(REPO_ROOT, tmp_path / "ws")
    spec = load_valid_repository(tmp_path / "ws").experiments["demo"].model.spec
    assert spec.headless is not None and spec.sessions == []
    assert path.read_text() != before
    assert (REPO_ROOT / "experiments" / "demo.yaml").read_text() == before
    # Run again, it starts from nothing.
    workspace.prepare(REPO_ROOT, tmp_path / "ws")
    assert load_valid_repository(tmp_path / "ws").experiments["demo"].model.spec.headless


def test_workspace_needs_the_demo_experiment(tmp_path):
    from benchctl.demo import workspace
    from benchctl.errors import UsageError

    with pytest.raises(UsageError, match=r"no experiments/demo\.yaml"):
        workspace.prepare(tmp_path, tmp_path / "ws")


def test_the_launch_line_the_env_file_prints_works_in_a_shell(opened, tmp_path):
    """What `apply` tells the operator to run, run by bash: source, then the launch line."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    path = opened["sdk-anthropic-sim-fast"]
    launch = next(
        line.removeprefix("# launch: ")
        for line in path.read_text().splitlines()
        if line.startswith("# launch: ")
    )
    assert launch.startswith("python -m benchctl.demo.harness")
    # `python` is this venv's: prepend its folder as an activated venv would.
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", f'source "$1" && export BENCHCTL_MAX_TURNS=2 && {launch}', "-", path],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    assert "requests sent: " in done.stdout
