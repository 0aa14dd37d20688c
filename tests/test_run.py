"""`benchctl run` against the real LiteLLM proxy and the simulator: a headless grid opened by
apply, run by the project's SDK harness, verified, finalized, with nothing left for the plan."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from benchctl.browse.sessions import find_session

from conftest import copy_manifests
from proxy_stack import session_env
from runs_support import cli, grid, only_experiment

GRID = (["sdk-sim-fast", "sdk-anthropic-sim-fast"], ["fix-median", "wordfreq-shell"], 2)


@pytest.fixture
def repo(example_repo):
    return only_experiment(example_repo, "demo", grid("demo", *GRID, max_attempts=2))


def test_a_headless_grid_runs_verified_and_leaves_no_churn(repo, litellm_proxy, database_url):
    env = session_env(litellm_proxy, database_url)
    planned = cli(repo, env, "plan")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert planned.stdout.count("headless grid: for `benchctl run`") == 8, planned.stdout
    opened = cli(repo, env, "apply", "--auto-approve")
    assert opened.returncode == 0, opened.stdout + opened.stderr

    # From the repository with the default `--root .`: relative paths must not reach the sandbox.
    done = cli(repo, env, "run", "demo", "-j", "4", "--json", "--sandbox", "auto", from_root=True)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert (summary["scored"], summary["infra_error"]) == (8, 0), summary
    # The simulated models (solve rate 0.6) wrote the solution in some sessions and a wrong
    # change in others, through tool calls (translated by LiteLLM for the Anthropic SDK), and
    # the verifiers scored what they wrote.
    rewards = {(a["outcome"], a["reward"]) for a in summary["attempts"]}
    assert rewards == {("success", 1.0), ("failure", 0.0)}, summary

    with psycopg.connect(database_url) as conn:
        sessions = conn.execute(
            "SELECT status, outcome_source, verification_id IS NOT NULL, headless,"
            " harness_version LIKE %s FROM sessions",
            ("%-python %",),
        ).fetchall()
        attempts = conn.execute("SELECT status, log FROM run_attempts").fetchall()
        # Each attempt told the database what it was doing; the last step was the verifier.
        steps = conn.execute("SELECT DISTINCT step FROM run_attempts").fetchall()
    assert sessions == [("finalized", "verified", True, True, True)] * 8
    assert {status for status, _ in attempts} == {"done"}
    assert steps == [("verify",)]
    # What the viewer shows of a session comes from the database alone: run log and verifier.
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        ids = [r["id"] for r in conn.execute("SELECT id::text AS id FROM sessions").fetchall()]
        for session_id in ids:
            detail = find_session(conn, session_id, content=False)
            assert detail is not None
            assert "wrote " in detail.attempts[-1].log
            assert detail.verifications[-1].counts and detail.verifications[-1].checks
            assert detail.session.outcome == detail.verifications[-1].outcome
    # Every harness wrote its task's file and ended its session itself.
    assert all("wrote " in log and "finished" in log for _, log in attempts), attempts
    with litellm_proxy.client() as client:
        assert client.list_keys(alias_prefix="benchctl-") == []
    # The runner finished the grid: the plan asks for nothing more.
    again = cli(repo, env, "plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    # Nothing left to run.
    rerun = json.loads(cli(repo, env, "run", "demo", "--json").stdout)
    assert rerun["attempts"] == []


@pytest.fixture
def outside_tmp():
    """A repository outside /tmp: the sandbox's /tmp is private, which would hide one in it
    whatever the runner hides."""
    folder = Path(tempfile.mkdtemp(prefix="benchctl-test-", dir="/var/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


PROBE_PROFILE = """\
apiVersion: benchctl/v1
kind: HarnessProfile
metadata: {{name: env-probe}}
spec:
  harness: a probe of what a harness gets
  protocol: openai-chat
  env:
    OPENAI_BASE_URL: "{{{{ proxy.url }}}}/v1"
    OPENAI_API_KEY: "{{{{ session.key }}}}"
    PROBE_MODEL: "{{{{ variant.model_alias }}}}"
  files:
    - under: home
      path: .probe/config.json
      content: '{{"model": "{{{{ variant.model_alias }}}}"}}'
    - {{under: workspace, path: probe.cfg, content: "alias={{{{ variant.model_alias }}}}"}}
  version: echo probe 1.2.3
  launch: >-
    env | sed 's/=.*//; s/^/VAR /';
    sed 's/^/HOMEFILE /' "$HOME/.probe/config.json"; echo; sed 's/^/WSFILE /' probe.cfg; echo;
    for p in {probes}; do cat "$p" >/dev/null 2>&1 && echo "READ $p"; done;
    ls -A {state}/sessions | sed 's/^/LISTED /';
    touch written-in-workspace && echo WROTE
"""
# The probe's variant is one the test proxy serves.
PROBE_VARIANT = """\
apiVersion: benchctl/v1
kind: Variant
metadata: {name: sdk-sim-slow-cheap}
spec: {provider: sim, model: sim-slow-cheap, harness_profile: env-probe}
"""
BASE_VARIABLES = {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "PYTHONDONTWRITEBYTECODE"}
SHELL_VARIABLES = {"PWD", "SHLVL", "_", "OLDPWD"}


@pytest.mark.parametrize("sandbox", ["bwrap", "none"])
def test_a_harness_gets_only_what_its_profile_renders_and_no_answers(
    sandbox, outside_tmp, litellm_proxy, database_url
):
    if sandbox == "bwrap" and shutil.which("bwrap") is None and os.environ.get("CI") != "true":
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")
    repo = only_experiment(
        copy_manifests(outside_tmp),
        "probe",
        grid("probe", ["sdk-sim-slow-cheap"], ["fix-median"], 1),
    )
    answers = [
        repo / "tasks/fix-median/tests/test_median.py",
        repo / "tasks/fix-median/solution.patch",
        repo / "tasks/wordfreq-shell/task.yaml",
    ]
    answers = [p for p in answers if p.exists()]
    state = repo / ".benchctl"
    (repo / "harness_profiles" / "env-probe.yaml").write_text(
        PROBE_PROFILE.format(probes=" ".join(map(str, answers)), state=state)
    )
    (repo / "variants" / "sdk-sim-slow-cheap.yaml").write_text(PROBE_VARIANT)
    env = session_env(litellm_proxy, database_url)
    assert cli(repo, env, "apply", "--auto-approve").returncode == 0
    # The operator's own secrets are in the runner's environment, never in the harness's.
    operator = env | {"OPENAI_API_KEY": "sk-operator-own-0123456789", "AWS_SECRET_ACCESS_KEY": "x"}
    done = cli(repo, operator, "run", "probe", "--sandbox", sandbox)
    assert done.returncode == 0, done.stdout + done.stderr

    with psycopg.connect(database_url) as conn:
        (log,) = conn.execute("SELECT log FROM run_attempts").fetchone()
    variables = {line[4:] for line in log.splitlines() if line.startswith("VAR ")}
    assert variables - SHELL_VARIABLES == BASE_VARIABLES | {
        "OPENAI_BASE_URL", "OPENAI_API_KEY", "PROBE_MODEL"
    }, log  # fmt: skip
    assert "sk-operator-own" not in log and "WROTE" in log
    # The profile's files, rendered where it asked; its version command, on the session.
    assert (
        'HOMEFILE {"model": "sdk-sim-slow-cheap"}' in log
        and "WSFILE alias=sdk-sim-slow-cheap" in log
    )
    with psycopg.connect(database_url) as conn:
        versions = conn.execute(
            "SELECT s.harness_version, a.harness_version FROM sessions s"
            " JOIN run_attempts a ON a.session_id = s.id"
        ).fetchone()
    assert versions == ("probe 1.2.3", "probe 1.2.3")
    if sandbox == "bwrap":
        # Hidden tests, oracles, other tasks and benchctl's state (env files with raw keys).
        assert "READ " not in log and "LISTED " not in log, log
    else:
        assert all(f"READ {p}" in log for p in answers), "unsandboxed, nothing is hidden"
