"""A real third-party harness headless: Aider from PyPI (its own venv, on PATH), through
`benchctl run` and the real LiteLLM proxy, against the simulator. Aider asks for SEARCH/REPLACE
blocks as text; the simulated model answers in that form, with the task's solution or a wrong
change; Aider applies it; the verifier scores what Aider wrote."""

from __future__ import annotations

import json
import os
import shutil

import psycopg
import pytest

from proxy_stack import session_env
from runs_support import cli, grid, only_experiment

# The test proxy serves the example variants' aliases: these two run Aider on the simulated
# models that solve 80% and 50% of attempts.
AIDER_VARIANT = """\
apiVersion: benchctl/v1
kind: Variant
metadata: {{name: {name}}}
spec:
  provider: sim
  model: {model}
  harness_profile: aider
  harness_settings: {{edit_format: diff, map_tokens: 0}}
"""
VARIANTS = {"sdk-sim-balanced": "sim-balanced", "sdk-sim-slow-cheap": "sim-slow-cheap"}
WRONG = "a first attempt, not finished"  # what the simulator's wrong change says


@pytest.fixture
def aider() -> str:
    found = shutil.which("aider")
    if found is None:
        reason = "aider is not on PATH: .ci/run installs requirements/harnesses/aider.txt"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Aider test: {reason}")
        pytest.skip(reason)
    return found


def test_aider_runs_headless_and_the_verifier_scores_what_it_wrote(
    aider, example_repo, litellm_proxy, database_url
):
    repo = only_experiment(
        example_repo,
        "aider",
        grid("aider", list(VARIANTS), ["fix-median", "wordfreq-shell"], 2, max_attempts=1),
    )
    for name, model in VARIANTS.items():
        (repo / "variants" / f"{name}.yaml").write_text(
            AIDER_VARIANT.format(name=name, model=model)
        )
    env = session_env(litellm_proxy, database_url)
    opened = cli(repo, env, "apply", "--auto-approve")
    assert opened.returncode == 0, opened.stdout + opened.stderr

    done = cli(repo, env, "run", "aider", "-j", "2", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT s.outcome, s.reward, s.harness_version, a.log FROM sessions s"
            " JOIN run_attempts a ON a.session_id = s.id ORDER BY s.task_card, s.replicate"
        ).fetchall()
    logs = "\n\n".join(log for *_, log in rows)
    assert summary["scored"] == 8, summary | {"logs": logs}
    assert {version for _, _, version, _ in rows} == {"aider 0.86.2"}
    for outcome, reward, _, log in rows:
        # Aider applied the simulated model's SEARCH/REPLACE blocks to the workspace, and the
        # verifier scored what that left: the solution passes, the wrong change does not.
        assert "Applied edit to" in log, log
        assert (outcome, reward) == (("failure", 0.0) if WRONG in log else ("success", 1.0)), log
    # Seeded: over these eight attempts both kinds of answer occur.
    assert {outcome for outcome, *_ in rows} == {"success", "failure"}, logs
    # Nothing left the proxy: Aider read its local price file rather than fetching one.
    assert "raw.githubusercontent.com" not in logs
