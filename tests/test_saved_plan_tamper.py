"""A saved plan is re-validated at apply: editing it, fingerprint recomputed, gets nothing in.

The fingerprint is a plain SHA-256 of the plan's content, which anyone can recompute, so it
catches accidents, not intent. What the plan embeds goes through every check `validate` runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from benchctl.db import migrate
from benchctl.reconcile.plan import Plan

from minirepo import write_minirepo


@pytest.fixture
def env(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate.upgrade(conn)
    return {"BENCHCTL_DATABASE_URL": database_url, "BENCHCTL_PROXY_URL": ""}


TABLES = ("providers", "harness_profiles", "task_cards", "variants", "experiments", "sessions")


def _rows(database_url: str) -> list[tuple]:
    rows: list[tuple] = []
    with psycopg.connect(database_url) as conn:
        for table in TABLES:
            rows += conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
        rows += conn.execute("SELECT serial FROM state_meta").fetchall()
    return rows


def _resign(path: Path, edit) -> None:
    """Edit the plan's JSON, then give it the fingerprint its new content has."""
    payload = json.loads(path.read_text())
    edit(payload)
    payload.pop("fingerprint")
    line = payload["summary"].pop("line")
    payload["fingerprint"] = Plan.model_validate(payload).fingerprint
    payload["summary"]["line"] = line
    path.write_text(json.dumps(payload))


def _experiment(payload: dict) -> dict:
    return next(o for o in payload["desired"]["objects"] if o["kind"] == "Experiment")


def _negative_budget(payload: dict) -> None:
    _experiment(payload)["document"]["spec"]["session_policy"]["budget_usd"] = -5


def _hijacking_env(payload: dict) -> None:
    profile = next(o for o in payload["desired"]["objects"] if o["kind"] == "HarnessProfile")
    profile["document"]["spec"]["env"]["LD_PRELOAD"] = "/tmp/evil.so"


def _stale_hash(payload: dict) -> None:
    # Valid manifests, but a content hash that is not theirs: the next plan would miss a change.
    _experiment(payload)["content_hash"] = "0" * 64


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_negative_budget, "budget_usd"),
        (_hijacking_env, "BC212"),
        (_stale_hash, "its snapshot differs from what its manifests give"),
    ],
    ids=["negative-budget", "ld-preload", "stale-hash"],
)
def test_an_edited_resigned_plan_is_refused_with_nothing_changed(
    run_cli, env, database_url, tmp_path, edit, message
):
    repo = write_minirepo(tmp_path / "repo")
    saved = tmp_path / "plan.json"
    assert run_cli("plan", "--root", str(repo), "--out", str(saved), env=env).exit_code == 0
    _resign(saved, edit)
    before = _rows(database_url)
    applied = run_cli("apply", str(saved), "--root", str(repo), env=env)
    assert applied.exit_code == 1, applied.output
    assert "holds manifests that do not validate, so nothing was applied" in applied.output
    assert message in applied.output
    assert "Traceback" not in applied.output
    assert _rows(database_url) == before


def test_an_untouched_saved_plan_still_applies(run_cli, env, database_url, tmp_path):
    repo = write_minirepo(tmp_path / "repo")
    saved = tmp_path / "plan.json"
    assert run_cli("plan", "--root", str(repo), "--out", str(saved), env=env).exit_code == 0
    _resign(saved, lambda payload: None)  # re-signing alone changes nothing
    applied = run_cli("apply", str(saved), "--root", str(repo), env=env)
    assert applied.exit_code == 0, applied.output
    assert len(_rows(database_url)) > 1


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 50, "it is not UTF-8 text"),
        (b"[" * 200_000 + b"]" * 200_000, "its JSON nests too deeply"),
        (b'{"a": ' * 200_000 + b"1" + b"}" * 200_000, "its JSON nests too deeply"),
        (b"[1, 2, 3]", "it is not a JSON object"),
        (b"not json", "Expecting value"),
    ],
    ids=["binary", "nested-lists", "nested-objects", "a-list", "not-json"],
)
def test_what_is_not_a_plan_is_one_line(run_cli, env, tmp_path, content: bytes, reason: str):
    repo = write_minirepo(tmp_path / "repo")
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    applied = run_cli("apply", str(path), "--root", str(repo), env=env)
    assert applied.exit_code == 2, applied.output
    assert "Traceback" not in applied.output
    (line,) = applied.output.strip().splitlines()
    assert "is not a benchctl plan" in line and reason in line


def _traversal(payload: dict) -> None:
    _experiment(payload)["name"] = "../../../../../../tmp/benchctl-escaped"


def test_object_names_cannot_write_outside_the_scratch_folder(run_cli, env, database_url, tmp_path):
    repo = write_minirepo(tmp_path / "repo")
    saved = tmp_path / "plan.json"
    assert run_cli("plan", "--root", str(repo), "--out", str(saved), env=env).exit_code == 0
    _resign(saved, _traversal)
    escaped = Path("/tmp/benchctl-escaped.yaml")
    escaped.unlink(missing_ok=True)
    before = _rows(database_url)
    applied = run_cli("apply", str(saved), "--root", str(repo), env=env)
    assert applied.exit_code == 1, applied.output
    assert "object names that are not valid names" in applied.output
    assert not escaped.exists()
    assert _rows(database_url) == before
