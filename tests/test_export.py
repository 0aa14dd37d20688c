"""`benchctl export` against a real PostgreSQL: what goes in comes back out, in order."""

from __future__ import annotations

import csv
import json

import psycopg
import pytest

from reportdata import Experiment, Truth, seed


@pytest.fixture
def db(database_url):
    seed(
        database_url,
        Experiment(
            variants=[Truth("a", sessions=6), Truth("b", sessions=5, ttft_ms=None)],
            baseline="a",
            idle_variants=["c"],
        ),
    )
    return database_url


def _env(url: str) -> dict[str, str]:
    return {"BENCHCTL_DATABASE_URL": url}


def test_jsonl_round_trip(run_cli, db, tmp_path):
    result = run_cli("export", "exp", "--out", str(tmp_path), env=_env(db))
    assert result.exit_code == 0, result.output
    assert "requests.jsonl (55 rows)" in result.output
    lines = (tmp_path / "requests.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    with psycopg.connect(db) as conn:
        expected = conn.execute(
            "SELECT request_id, latency_ms, ttft_quality, cost_usd FROM requests"
            " ORDER BY started_at, request_id"
        ).fetchall()
    assert [(r["request_id"], r["latency_ms"], r["ttft_quality"], r["cost_usd"]) for r in rows] == [
        tuple(e) for e in expected
    ]
    assert rows[0]["started_at"].endswith("+00:00")
    assert all("key_hash" not in r for r in rows)

    sessions = [
        json.loads(line)
        for line in (tmp_path / "sessions.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(sessions) == 11
    assert {s["outcome"] for s in sessions} <= {"success", "failure"}
    rollups = (tmp_path / "rollups.jsonl").read_text(encoding="utf-8").splitlines()
    levels = [json.loads(line)["level"] for line in rollups]
    assert levels.count("experiment") == 1 and levels.count("variant") == 2
    per_session = (tmp_path / "session_rollups.jsonl").read_text(encoding="utf-8").splitlines()
    assert sum(json.loads(line)["requests"] for line in per_session) == 55

    manifests = json.loads((tmp_path / "manifests.json").read_text(encoding="utf-8"))
    assert [(m["kind"], m["name"], m["version"]) for m in manifests] == [
        ("Experiment", "exp", 1),
        ("HarnessProfile", "script", 1),
        ("Provider", "sim", 1),
        ("TaskCard", "fix-bug", 1),
        ("TaskCard", "hello", 1),
        ("Variant", "a", 1),
        ("Variant", "b", 1),
        ("Variant", "c", 1),
    ]
    assert manifests[0]["document"]["spec"]["baseline"] == "a"


def test_csv_round_trip_and_same_bytes_twice(run_cli, db, tmp_path):
    for folder in ("one", "two"):
        result = run_cli(
            "export", "exp", "--format", "csv", "--out", str(tmp_path / folder), env=_env(db)
        )
        assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == [
        "cost_ledger.csv",
        "manifests.json",
        "requests.csv",
        "rollups.csv",
        "run_attempts.csv",
        "session_accounts.csv",
        "session_rollups.csv",
        "sessions.csv",
        "verifications.csv",
    ]
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()

    with (tmp_path / "one" / "requests.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 55
    assert "key_hash" not in rows[0]
    with psycopg.connect(db) as conn:
        total = conn.execute("SELECT sum(completion_tokens) FROM requests").fetchone()[0]
    assert sum(int(r["completion_tokens"]) for r in rows) == total
    assert [r["started_at"] for r in rows] == sorted(r["started_at"] for r in rows)
    b = [r for r in rows if r["variant"] == "b"]
    assert {r["ttft_quality"] for r in b} == {"equal_to_total"}


def test_export_errors(run_cli, db, tmp_path):
    unknown = run_cli("export", "nope", "--out", str(tmp_path), env=_env(db))
    assert unknown.exit_code == 2
    assert "no experiment 'nope' in the benchmark database" in unknown.output
    assert not any(tmp_path.iterdir())

    bad = run_cli("export", "exp", "--format", "xml", "--out", str(tmp_path), env=_env(db))
    assert bad.exit_code == 2
    assert "xml" in bad.output

    no_out = run_cli("export", "exp", env=_env(db))
    assert no_out.exit_code == 2
    assert "--out" in no_out.output
