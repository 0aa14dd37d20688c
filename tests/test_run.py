"""`benchctl run` against the real LiteLLM proxy and the simulator: a headless grid opened by
apply, run by the project's SDK harness, verified, finalized, with nothing left for the plan."""

from __future__ import annotations

import json

import psycopg
import pytest

from proxy_stack import session_env
from runs_support import cli, grid, only_experiment


@pytest.fixture
def repo(example_repo):
    return only_experiment(
        example_repo,
        "demo",
        grid("demo", ["sdk-sim-fast"], ["fix-median", "wordfreq-shell"], 1, max_attempts=2),
    )


def test_a_headless_grid_runs_verified_and_leaves_no_churn(repo, litellm_proxy, database_url):
    env = session_env(litellm_proxy, database_url)
    planned = cli(repo, env, "plan")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert planned.stdout.count("headless grid: for `benchctl run`") == 2, planned.stdout
    opened = cli(repo, env, "apply", "--auto-approve")
    assert opened.returncode == 0, opened.stdout + opened.stderr

    done = cli(repo, env, "run", "demo", "-j", "2", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert (summary["scored"], summary["infra_error"]) == (2, 0), summary
    # The SDK script talks but edits nothing: each task's verifier measures a failure.
    assert {a["outcome"] for a in summary["attempts"]} == {"failure"}

    with psycopg.connect(database_url) as conn:
        sessions = conn.execute(
            "SELECT status, outcome, outcome_source, verification_id IS NOT NULL, headless"
            " FROM sessions"
        ).fetchall()
        attempts = conn.execute("SELECT status, exit_code FROM run_attempts").fetchall()
    assert sessions == [("finalized", "failure", "verified", True, True)] * 2
    assert sorted(attempts) == [("done", 0), ("done", 0)]
    with litellm_proxy.client() as client:
        assert client.list_keys(alias_prefix="benchctl-") == []
    # The runner finished the grid: the plan asks for nothing more.
    again = cli(repo, env, "plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    # Nothing left to run.
    rerun = json.loads(cli(repo, env, "run", "demo", "--json").stdout)
    assert rerun["attempts"] == []
