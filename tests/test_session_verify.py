"""`session verify` and verified outcomes, against a real PostgreSQL and a real workspace.

The session row is written as `apply` writes it (its named queries), so no proxy is needed: what
is under test is the verifier's record, `session finalize` choosing the verified outcome, the
plan refusing a claimed outcome the verifier did not measure, and the report counting verified
and self-reported outcomes apart.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from benchctl.db.queries import query
from benchctl.manifests.loader import load_valid_repository
from benchctl.manifests.models.provider import cost
from benchctl.reconcile.desired import session_id
from benchctl.tasks.files import tree_hash

EXPERIMENT, VARIANT, TASK = "demo", "sdk-sim-fast", "fix-median"


@pytest.fixture
def env(database_url):
    return {"BENCHCTL_DATABASE_URL": database_url, "BENCHCTL_PROXY_URL": ""}


def _open_session(run_cli, repo: Path, env, database_url: str, replicate: int) -> str:
    """The session entry in the YAML, and its row as an apply leaves it: open, with a key."""
    added = run_cli(
        "session", "add", EXPERIMENT, VARIANT, TASK, "--replicate", str(replicate),
        "--root", str(repo),
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    sid = session_id(EXPERIMENT, VARIANT, TASK, replicate)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            query("sessions.insert"),
            {
                "id": sid, "experiment": EXPERIMENT, "variant": VARIANT, "variant_version": 1,
                "task_card": TASK, "task_card_version": 1, "harness_profile": "openai-sdk-script",
                "replicate": replicate, "notes": "", "key_alias": f"benchctl-test-{sid}",
                "budget_usd": 5.0, "ttl_seconds": 3600, "manifest_commit": None,
                "manifest_dirty": None, "repo_path": str(repo), "operator": "test",
                "headless": False,
            },
        )  # fmt: skip
        conn.execute(
            query("sessions.mark_open"), {"id": sid, "key_hash": f"hash-{sid}", "expires": None}
        )
    return sid


@pytest.fixture
def applied(run_cli, example_repo, env):
    done = run_cli("apply", "--root", str(example_repo), "--auto-approve", env=env)
    assert done.exit_code == 0, done.output
    return example_repo


def _workspace(repo: Path, target: Path, *, solved: bool) -> Path:
    shutil.copytree(repo / "tasks" / TASK / "workspace", target)
    if solved:
        patch = repo / "tasks" / TASK / "solution.patch"
        subprocess.run(["git", "apply", str(patch)], cwd=target, check=True)
    return target


def _verifications(database_url: str, sid: str) -> list[dict]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT * FROM verifications WHERE session_id = %s ORDER BY id", (sid,)
        ).fetchall()


def test_verify_records_reward_checks_and_tests_hash(run_cli, applied, env, database_url, tmp_path):
    sid = _open_session(run_cli, applied, env, database_url, 1)
    workspace = _workspace(applied, tmp_path / "mine", solved=True)
    before = sorted(p.name for p in workspace.rglob("*"))

    done = run_cli(
        "session", "verify", sid[:8], "--workspace", str(workspace), "--root", str(applied),
        "--json", env=env,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert (result["status"], result["reward"], result["outcome"]) == ("scored", 1.0, "success")
    assert result["reward_source"] == "exit-code"
    assert len(result["checks"]) == 12 and {c["status"] for c in result["checks"]} == {"passed"}
    # The operator's working copy is verified in a copy: nothing is added to it.
    assert sorted(p.name for p in workspace.rglob("*")) == before

    (row,) = _verifications(database_url, sid)
    assert (row["status"], row["reward"], row["outcome"]) == ("scored", 1.0, "success")
    assert (row["passed"], row["failed"]) == (12, 0)
    assert row["tests_hash"] == tree_hash(applied / "tasks" / TASK / "tests")
    assert row["workspace"] == str(workspace.resolve())
    assert row["duration_ms"] > 0 and "12 passed" in row["log"]
    names = {c["name"] for c in row["checks"]}
    assert "test_median::test_single_value" in names and len(names) == 12


def test_finalize_takes_the_latest_verified_outcome_and_plan_checks_it(
    run_cli, applied, env, database_url, tmp_path
):
    sid = _open_session(run_cli, applied, env, database_url, 1)
    unverified = run_cli("session", "finalize", sid[:8], "--root", str(applied), env=env)
    assert unverified.exit_code == 2
    assert "has never been verified" in unverified.output

    untouched = _workspace(applied, tmp_path / "untouched", solved=False)
    done = run_cli(
        "session", "verify", sid[:8], "--workspace", str(untouched), "--root", str(applied),
        env=env,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "reward 0 → failure" in done.output
    assert "7 failed" in done.output

    final = run_cli("session", "finalize", sid[:8], "--root", str(applied), env=env)
    assert final.exit_code == 0, final.output
    assert "verified outcome failure" in final.output
    experiment = applied / "experiments" / "demo.yaml"
    text = experiment.read_text()
    assert "outcome: failure" in text and "outcome_source: verified" in text

    # A claimed verified outcome the verifier did not measure is refused by the plan.
    experiment.write_text(text.replace("outcome: failure", "outcome: success"))
    plan = run_cli("plan", "--root", str(applied), env=env)
    assert plan.exit_code == 1
    assert "claims the verified outcome success, but its verifier measured failure" in plan.output
    # Typed by the operator, it stands, labelled as such.
    experiment.write_text(
        text.replace("outcome: failure", "outcome: success").replace(
            "outcome_source: verified", "outcome_source: self-reported"
        )
    )
    plan = run_cli("plan", "--root", str(applied), env=env)
    assert plan.exit_code == 0, plan.output
    assert "outcome success (self-reported)" in plan.output


def test_verify_refuses_changed_hidden_tests(run_cli, applied, env, database_url, tmp_path):
    sid = _open_session(run_cli, applied, env, database_url, 1)
    test_file = applied / "tasks" / TASK / "tests" / "test_median.py"
    test_file.write_text(test_file.read_text() + "\n# edited after the session opened\n")
    done = run_cli(
        "session", "verify", sid[:8], "--workspace",
        str(_workspace(applied, tmp_path / "w", solved=True)), "--root", str(applied), env=env,
    )  # fmt: skip
    assert done.exit_code == 1
    assert "hidden tests in tasks/fix-median/tests changed since session" in done.output
    assert _verifications(database_url, sid) == []


def test_a_verifier_error_is_unscored(run_cli, applied, env, database_url, tmp_path):
    sid = _open_session(run_cli, applied, env, database_url, 1)
    workspace = _workspace(applied, tmp_path / "w", solved=True)
    # The agent left a package that hangs on import: the verifier runs past its timeout.
    card = applied / "task_cards" / f"{TASK}.yaml"
    card.write_text(card.read_text().replace("timeout: 2m", "timeout: 2s"))
    run_cli("apply", "--root", str(applied), "--auto-approve", env=env)
    with psycopg.connect(database_url) as conn:  # the session keeps its version 1: use it
        conn.execute(
            "UPDATE task_cards SET spec = jsonb_set(spec, '{spec,verify,timeout}', '\"2s\"')"
            " WHERE name = %s AND version = 1",
            (TASK,),
        )
    (workspace / "stats_utils" / "__init__.py").write_text("import time\ntime.sleep(60)\n")
    done = run_cli(
        "session", "verify", sid[:8], "--workspace", str(workspace), "--root", str(applied),
        env=env,
    )  # fmt: skip
    assert done.exit_code == 1
    assert "unscored" in done.output and "timeout of 2s" in done.output
    (row,) = _verifications(database_url, sid)
    assert (row["status"], row["reward"], row["outcome"], row["timed_out"]) == (
        "error",
        None,
        None,
        True,
    )
    final = run_cli("session", "finalize", sid[:8], "--root", str(applied), env=env)
    assert final.exit_code == 2 and "last verified with an error" in final.output


def _end(database_url: str, sid: str, outcome: str, source: str) -> None:
    """What apply does to finalize a session (its named queries), minus the proxy's key."""
    with psycopg.connect(database_url) as conn:
        latest = conn.execute(
            "SELECT max(id) FROM verifications WHERE session_id = %s AND status = 'scored'",
            (sid,),
        ).fetchone()[0]
        conn.execute(
            query("sessions.mark_ending"),
            {"id": sid, "status": "finalizing", "outcome": outcome, "source": source,
             "notes": None, "verification_id": latest if source == "verified" else None},
        )  # fmt: skip
        conn.execute(query("sessions.mark_ended"), {"id": sid, "status": "finalized"})


def test_report_counts_verified_and_self_reported_apart(
    run_cli, applied, env, database_url, tmp_path
):
    verified = _open_session(run_cli, applied, env, database_url, 1)
    typed = _open_session(run_cli, applied, env, database_url, 2)
    done = run_cli(
        "session", "verify", verified[:8], "--workspace",
        str(_workspace(applied, tmp_path / "w", solved=True)), "--root", str(applied), env=env,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    _end(database_url, verified, "success", "verified")
    _end(database_url, typed, "failure", "self-reported")
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT outcome_source, reward, verification_id FROM sessions WHERE id = %s",
            (verified,),
        ).fetchone()
        assert row["outcome_source"] == "verified" and row["reward"] == 1.0
        assert row["verification_id"] is not None

    out = tmp_path / "reports"
    report = run_cli("report", EXPERIMENT, "--out", str(out), "--root", str(applied), env=env)
    assert report.exit_code == 0, report.output
    data = json.loads((out / EXPERIMENT / "report.json").read_text())
    totals = data["totals"]
    assert (totals["sessions_verified"], totals["sessions_self_reported"]) == (1, 1)
    # Verified outcomes only: one success of one counted outcome.
    assert (totals["sessions_with_outcome"], totals["sessions_succeeded"]) == (1, 1)
    readme = (out / EXPERIMENT / "README.md").read_text()
    assert "1 with a verified outcome, 1 self-reported" in readme
    assert "success rates count verified outcomes" in readme
    assert "does not count (spec.self_reported_outcomes: exclude)" in readme

    # The experiment opts in: the typed failure counts too.
    experiment = applied / "experiments" / "demo.yaml"
    experiment.write_text(
        experiment.read_text().replace("  replicates: 2\n", "  replicates: 2\n"
                                       "  self_reported_outcomes: include\n")
    )  # fmt: skip
    with psycopg.connect(database_url) as conn:  # what apply's in-place update stores
        conn.execute(
            "UPDATE experiments SET spec = jsonb_set(spec, '{spec,self_reported_outcomes}',"
            " '\"include\"') WHERE name = %s",
            (EXPERIMENT,),
        )
    report = run_cli("report", EXPERIMENT, "--out", str(out), "--root", str(applied), env=env)
    data = json.loads((out / EXPERIMENT / "report.json").read_text())
    assert (data["totals"]["sessions_with_outcome"], data["totals"]["sessions_succeeded"]) == (2, 1)
    assert (
        "success rates count verified or self-reported outcomes"
        in (out / EXPERIMENT / "README.md").read_text()
    )


def test_editing_hidden_tests_is_a_new_task_card_version(
    run_cli, applied, env, database_url, tmp_path
):
    """The tests' content hash is part of the version: a task card with sessions is replaced."""
    sid = _open_session(run_cli, applied, env, database_url, 1)
    cosmetic = applied / "task_cards" / f"{TASK}.yaml"
    cosmetic.write_text(cosmetic.read_text().replace("  labels:\n", "  labels:\n    team: qa\n"))
    plan = run_cli("plan", "--root", str(applied), env=env)
    assert plan.exit_code == 0, plan.output
    assert "Plan: 0 to add, 1 to change, 0 to retire" in plan.output
    assert "changes: metadata.labels.team" in plan.output and "-/+" not in plan.output

    test_file = applied / "tasks" / TASK / "tests" / "test_median.py"
    test_file.write_text(test_file.read_text() + "\n\ndef test_added():\n    pass\n")
    refused = run_cli("plan", "--root", str(applied), env=env)
    assert refused.exit_code == 1
    assert "files.tests changed while 1 of its sessions are still open" in refused.output
    assert "in a new task card" in refused.output
    typed = run_cli(
        "session", "finalize", sid[:8], "--outcome", "failure", "--root", str(applied), env=env
    )
    assert typed.exit_code == 0, typed.output
    _end(database_url, sid, "failure", "self-reported")
    plan = run_cli("plan", "--root", str(applied), "--json", env=env)
    assert plan.exit_code == 0, plan.output
    actions = json.loads(plan.stdout)["actions"]
    (replace,) = [a for a in actions if a["kind"] == "TaskCard" and a["name"] == TASK]
    assert replace["action"] == "replace", replace
    assert "files.tests" in json.dumps(replace)


def _cost(database_url: str, sid: str, usd: float) -> None:
    """One collected call of ``usd`` for session ``sid``."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO requests (request_id, session_id, experiment, variant, variant_version,"
            " task_card, task_card_version, key_hash, started_at, ended_at, ttft_quality, status,"
            " cost_usd, prompt_tokens, completion_tokens) VALUES (%s, %s, %s, %s, 1, %s, 1, 'h',"
            " now(), now(), 'missing', 'success', %s, 10000, 2000)",
            (f"req-{sid}", sid, EXPERIMENT, VARIANT, TASK, usd),
        )


def test_plan_forecasts_cost_and_what_the_grid_can_tell_apart(run_cli, applied, env, database_url):
    first = run_cli("session", "add", EXPERIMENT, VARIANT, TASK, "--root", str(applied))
    assert first.exit_code == 0, first.output
    plan = run_cli("plan", "--root", str(applied), env=env)
    assert plan.exit_code == 0, plan.output
    # No finished session yet: only the budget ceiling ($10 a session in the demo) bounds it.
    assert "Forecast: 1 session, at most $10.00 (budget ceiling: no finished session" in plan.output
    assert "demo: 3 task card(s) x 2 replicate(s) can tell apart success-rate differences" in (
        plan.output
    )
    assert "30 more task cards would bring that to" in plan.output

    # Two finished sessions of the same variant and task card, at $0.20 and $0.40.
    for replicate, usd in ((1, 0.2), (2, 0.4)):
        sid = session_id(EXPERIMENT, VARIANT, TASK, replicate)
        with psycopg.connect(database_url) as conn:
            conn.execute(
                query("sessions.insert"),
                {
                    "id": sid, "experiment": "other", "variant": VARIANT, "variant_version": 1,
                    "task_card": TASK, "task_card_version": 1,
                    "harness_profile": "openai-sdk-script", "replicate": replicate, "notes": "",
                    "key_alias": f"benchctl-old-{sid}", "budget_usd": 5.0, "ttl_seconds": 3600,
                    "manifest_commit": None, "manifest_dirty": None, "repo_path": "/",
                    "operator": "test", "headless": False,
                },
            )  # fmt: skip
            conn.execute(
                "UPDATE sessions SET id = gen_random_uuid(), status = 'finalized',"
                " opened_at = now() - interval '30 minutes', ended_at = now() WHERE id = %s",
                (sid,),
            )
        with psycopg.connect(database_url) as conn:
            new = conn.execute(
                "SELECT id::text FROM sessions WHERE key_alias = %s", (f"benchctl-old-{sid}",)
            ).fetchone()[0]
        _cost(database_url, new, usd)
    plan = run_cli("plan", "--root", str(applied), "--json", env=env)
    forecast = json.loads(plan.stdout)["forecast"]
    assert forecast["sessions"] == 1 and forecast["from_same_task"] == 1
    assert forecast["cost_usd"] == pytest.approx(0.3)
    assert (forecast["cost_low_usd"], forecast["cost_high_usd"]) == pytest.approx((0.2, 0.4))
    assert forecast["hours"] == pytest.approx(0.5, abs=0.01)
    markdown = run_cli("plan", "--root", str(applied), "--markdown", env=env).stdout
    assert "Forecast: 1 session, ≈ $0.300 ($0.200 to $0.400, 1 from finished sessions" in markdown

    # A variant without sessions of its own: the task card's tokens, at its model's prices.
    other = run_cli("session", "add", EXPERIMENT, "sdk-sim-balanced", TASK, "--root", str(applied))
    assert other.exit_code == 0, other.output
    forecast = json.loads(run_cli("plan", "--root", str(applied), "--json", env=env).stdout)[
        "forecast"
    ]
    assert (forecast["sessions"], forecast["from_tokens_at_prices"]) == (2, 1)
    prices = load_valid_repository(applied).providers["sim"].model.spec.models["sim-balanced"]
    expected = cost(prices.prices, 10000, 2000, 0, 0)
    assert forecast["cost_usd"] == pytest.approx(0.3 + expected)


def test_a_later_verification_never_rewrites_a_finished_session(
    run_cli, applied, env, database_url, tmp_path
):
    """Verified success, then a new `session verify` that fails and a notes edit: the session
    keeps the verification its outcome came from."""
    sid = _open_session(run_cli, applied, env, database_url, 1)
    solved = _workspace(applied, tmp_path / "solved", solved=True)
    args = ("--root", str(applied))
    assert run_cli("session", "verify", sid[:8], "--workspace", str(solved), *args, env=env)
    assert run_cli("session", "finalize", sid[:8], *args, env=env).exit_code == 0
    _end(database_url, sid, "success", "verified")
    (first,) = _verifications(database_url, sid)

    untouched = _workspace(applied, tmp_path / "untouched", solved=False)
    again = run_cli("session", "verify", sid[:8], "--workspace", str(untouched), *args, env=env)
    assert again.exit_code == 0 and "failure" in again.output
    experiment = applied / "experiments" / "demo.yaml"
    experiment.write_text(
        experiment.read_text().replace("outcome_source: verified", "outcome_source: verified\n"
                                       "      notes: looked fine")
    )  # fmt: skip
    plan = json.loads(run_cli("plan", *args, "--json", env=env).stdout)
    (edit,) = [a for a in plan["actions"] if a["action"] == "update_session"]
    assert edit["changes"] == ["notes"] and edit["verification_id"] is None
    with psycopg.connect(database_url) as conn:
        conn.execute(
            query("sessions.update_record"),
            {"id": sid, "outcome": "success", "source": "verified", "notes": "looked fine",
             "verification_id": edit["verification_id"]},
        )  # fmt: skip
        row = conn.execute(
            "SELECT reward, verification_id FROM sessions WHERE id = %s", (sid,)
        ).fetchone()
    assert row == (1.0, first["id"])
