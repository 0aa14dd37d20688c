"""plan / apply against a real PostgreSQL, without a proxy (objects only)."""

from __future__ import annotations

import json
import threading

import psycopg
import pytest

from benchctl.db import migrate
from benchctl.db.connection import connect
from benchctl.reconcile.lock import current_holder, state_lock
from benchctl.settings import Settings

from minirepo import FILES, write_minirepo

COSMETIC = FILES["task_cards/hello.yaml"].replace(
    "metadata: {name: hello}", "metadata: {name: hello, description: polite now}"
)


@pytest.fixture
def repo(tmp_path):
    return write_minirepo(tmp_path / "repo")


@pytest.fixture
def raw_env(database_url):
    return {"BENCHCTL_DATABASE_URL": database_url, "BENCHCTL_PROXY_URL": ""}


@pytest.fixture
def env(raw_env, database_url):
    """A shared database that `benchctl db upgrade` has prepared."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate.upgrade(conn)
    return raw_env


def settings(repo, database_url) -> Settings:
    return Settings(root=repo, database_url=database_url, proxy_url=None)


def test_apply_creates_rows_then_plan_shows_no_changes(run_cli, repo, env, database_url):
    first = run_cli("plan", "--root", str(repo), "--detailed-exitcode", env=env)
    assert first.exit_code == 2, first.output
    assert "Plan: 5 to add, 0 to change, 0 to retire; 0 sessions to open." in first.output

    done = run_cli("apply", "--root", str(repo), "--auto-approve", env=env)
    assert done.exit_code == 0, done.output
    assert "Apply complete: 5 action(s)." in done.output

    again = run_cli("plan", "--root", str(repo), "--detailed-exitcode", env=env)
    assert again.exit_code == 0, again.output
    assert "No changes." in again.output
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT name, version, git_commit, retired_at FROM variants").fetchall()
        assert rows == [("fast", 1, None, None)]
        log = conn.execute("SELECT status, operation FROM apply_log").fetchall()
        assert log == [("succeeded", "apply")]


def test_confirmation_other_than_yes_changes_nothing(run_cli, repo, env, database_url):
    result = run_cli("apply", "--root", str(repo), env=env, input="y\n")
    assert result.exit_code == 0
    assert "Apply cancelled; nothing was changed." in result.output
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM providers").fetchone() == (0,)


def test_cosmetic_update_and_retire(run_cli, repo, env, database_url):
    assert run_cli("apply", "--root", str(repo), "--auto-approve", env=env).exit_code == 0
    write_minirepo(repo, task_cards__hello=COSMETIC)
    (repo / "experiments" / "exp.yaml").unlink()
    plan = run_cli("plan", "--root", str(repo), "--json", env=env)
    payload = json.loads(plan.output)
    assert payload["format_version"] == 1
    assert [(a["action"], a["kind"], a["changes"]) for a in payload["actions"]] == [
        ("update", "TaskCard", ["metadata.description"]),
        ("retire", "Experiment", []),
    ]
    assert payload["summary"]["line"] == (
        "Plan: 0 to add, 1 to change, 1 to retire; 0 sessions to open."
    )
    assert run_cli("apply", "--root", str(repo), "--auto-approve", env=env).exit_code == 0
    with psycopg.connect(database_url) as conn:
        assert conn.execute(
            "SELECT retired_at IS NOT NULL FROM experiments WHERE name = 'exp'"
        ).fetchone() == (True,)
        assert conn.execute(
            "SELECT spec->'metadata'->>'description' FROM task_cards"
        ).fetchone() == ("polite now",)


def test_saved_plan_applies_exactly_and_stale_plan_is_refused(run_cli, repo, env, tmp_path):
    saved = tmp_path / "plan.json"
    stale = tmp_path / "stale.json"
    assert run_cli("plan", "--root", str(repo), "--out", str(saved), env=env).exit_code == 0
    assert run_cli("plan", "--root", str(repo), "--out", str(stale), env=env).exit_code == 0
    # The working tree changes after planning: the saved plan still applies what was reviewed.
    write_minirepo(repo, task_cards__hello=COSMETIC)
    applied = run_cli("apply", str(saved), "--root", str(repo), env=env)
    assert applied.exit_code == 0, applied.output
    refused = run_cli("apply", str(stale), "--root", str(repo), env=env)
    assert refused.exit_code == 1
    assert "state serial" in refused.output and "benchctl plan --out" in refused.output
    plan = run_cli("plan", "--root", str(repo), env=env)
    assert "Plan: 0 to add, 1 to change" in plan.output


def test_not_a_plan_file(run_cli, repo, env, tmp_path):
    bad = tmp_path / "plan.json"
    bad.write_text('{"format_version": 99}')
    result = run_cli("apply", str(bad), "--root", str(repo), env=env)
    assert result.exit_code == 2
    assert "is not a benchctl plan" in result.output


def test_invalid_manifests_are_refused_before_touching_the_database(
    run_cli, repo, env, database_url
):
    write_minirepo(
        repo, variants__fast="apiVersion: benchctl/v1\nkind: Variant\nmetadata: {name: fast}\n"
    )
    result = run_cli("apply", "--root", str(repo), "--auto-approve", env=env)
    assert result.exit_code == 1
    assert "manifest error(s); run `benchctl validate`" in result.output


def test_unreachable_database_is_an_actionable_error(run_cli, repo):
    env = {"BENCHCTL_DATABASE_URL": "postgresql://nobody:secret@127.0.0.1:1/x"}
    result = run_cli("plan", "--root", str(repo), env=env)
    assert result.exit_code == 1
    assert "cannot connect to the benchmark database" in result.output
    assert "secret" not in result.output


def test_lock_held_fails_fast_naming_the_holder(run_cli, repo, env, database_url):
    s = settings(repo, database_url)
    held = threading.Event()
    release = threading.Event()

    def holder():
        with connect(s, upgrade=True) as conn, state_lock(conn, "apply", 0):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(30)
        result = run_cli("apply", "--root", str(repo), "--auto-approve", env=env)
        assert result.exit_code == 1
        assert "locked by" in result.output and "running `apply` since" in result.output
        assert "benchctl force-unlock" in result.output
    finally:
        release.set()
        thread.join()
    assert run_cli("apply", "--root", str(repo), "--auto-approve", env=env).exit_code == 0


def test_waiting_apply_gets_the_lock_when_released(repo, database_url):
    s = settings(repo, database_url)
    order = []
    held = threading.Event()

    def first():
        with connect(s, upgrade=True) as conn, state_lock(conn, "apply", 0):
            held.set()
            order.append("first")
            threading.Event().wait(0.5)

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(30)
    with connect(s, upgrade=True) as conn, state_lock(conn, "apply", 10):
        order.append("second")
    thread.join()
    assert order == ["first", "second"]


def test_force_unlock_ends_a_stuck_holder(run_cli, repo, env, database_url):
    s = settings(repo, database_url)
    conn = connect(s, upgrade=True)
    lock = state_lock(conn, "apply", 0)
    lock.__enter__()
    with connect(s, upgrade=True) as other:
        assert current_holder(other) is not None
    result = run_cli("force-unlock", "--root", str(repo), "--yes", env=env)
    assert result.exit_code == 0, result.output
    assert "Lock released" in result.output
    with connect(s, upgrade=True) as other:
        assert current_holder(other) is None
    with pytest.raises(psycopg.OperationalError):
        lock.__exit__(None, None, None)  # the holder's session was ended under it
    conn.close()
    assert run_cli("force-unlock", "--root", str(repo), "--yes", env=env).output.startswith(
        "The state is not locked"
    )


def test_db_upgrade_is_idempotent_and_checks_edited_migrations(
    run_cli, repo, raw_env, database_url
):
    env = raw_env
    first = run_cli("db", "upgrade", "--root", str(repo), env=env)
    assert first.exit_code == 0 and "applied 0001_state" in first.output
    second = run_cli("db", "upgrade", "--root", str(repo), env=env)
    assert "(0 applied)" in second.output
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
        with pytest.raises(Exception, match="must never be edited"):
            migrate.pending(conn)


def test_plan_on_an_unmigrated_shared_database_says_to_upgrade(run_cli, repo, raw_env):
    result = run_cli("plan", "--root", str(repo), env=raw_env)
    assert result.exit_code == 1
    assert "run `benchctl db upgrade`" in result.output


def test_edited_saved_plan_is_refused(run_cli, repo, env, tmp_path):
    saved = tmp_path / "plan.json"
    assert run_cli("plan", "--root", str(repo), "--out", str(saved), env=env).exit_code == 0
    payload = json.loads(saved.read_text())
    payload["desired"]["objects"][0]["document"]["metadata"]["description"] = "sneaky"
    saved.write_text(json.dumps(payload))
    result = run_cli("apply", str(saved), "--root", str(repo), env=env)
    assert result.exit_code == 2
    assert "was edited after `benchctl plan` saved it" in result.output


def test_wrong_root_is_refused_not_planned_as_retire_everything(run_cli, repo, env, tmp_path):
    assert run_cli("apply", "--root", str(repo), "--auto-approve", env=env).exit_code == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("plan", "--root", str(empty), env=env)
    assert result.exit_code == 2 and "no manifests found" in result.output
    detailed = run_cli("plan", "--root", str(empty), "--detailed-exitcode", env=env)
    assert detailed.exit_code == 1  # 2 would read as "changes present"


def test_apply_without_proxy_refuses_session_actions_before_asking(
    run_cli, repo, env, database_url
):
    write_minirepo(
        repo,
        experiments__exp=(
            "apiVersion: benchctl/v1\nkind: Experiment\nmetadata: {name: exp}\nspec:\n"
            "  variants: [fast]\n  task_cards: [hello]\n  baseline: fast\n"
            "  sessions: [{variant: fast, task_card: hello}]\n"
        ),
    )
    result = run_cli("apply", "--root", str(repo), env=env, input="yes\n")
    assert result.exit_code == 1
    assert "Apply these changes?" not in result.output
    assert "need the LiteLLM proxy" in result.output and "Nothing was applied." in result.output
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM providers").fetchone() == (0,)
