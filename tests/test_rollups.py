"""The rollup views against hand-computed figures on a small data set, in real PostgreSQL.

Sessions (variant A: S1 success 100 s, S2 failure 300 s on t1, S3 success 200 s on t2; variant
B: S4 open, S5 aborted on t1) and requests chosen so that every figure can be worked out by hand.
percentile_cont interpolates: p90 of [100, 200, 300, 400] sits at 0.9 x 3 = 2.7, i.e. 370.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from benchctl.db import migrate

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SESSIONS = {
    # name: variant, task card, status, outcome, duration (s)
    "S1": ("A", "t1", "finalized", "success", 100),
    "S2": ("A", "t1", "finalized", "failure", 300),
    "S3": ("A", "t2", "finalized", "success", 200),
    "S4": ("B", "t1", "open", None, None),
    "S5": ("B", "t1", "aborted", None, 50),
}
REQUESTS = [
    # session, status, latency, ttft, quality, prompt, cached, completion, cost
    ("S1", "success", 100.0, 10.0, "measured", 100, 50, 10, 0.1),
    ("S1", "success", 200.0, 20.0, "measured", 100, 0, 20, 0.2),
    ("S1", "failure", 5.0, 5.0, "equal_to_total", 0, 0, 0, 0.0),
    ("S2", "success", 300.0, None, "missing", 200, 100, 30, 0.3),
    ("S2", "success", 400.0, 40.0, "measured", 0, 0, 0, 0.4),
    ("S3", "success", 500.0, 50.0, "measured", 100, 100, 10, 0.5),
    ("S4", "success", 1000.0, 100.0, "measured", 10, 0, 10, 1.0),
    ("S5", "success", 2000.0, 200.0, "measured", 10, 0, 10, 2.0),
]


def sid(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_DNS, name)


def load(url: str, order_seed: int) -> None:
    requests = list(enumerate(REQUESTS))
    random.Random(order_seed).shuffle(requests)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate.upgrade(conn)
        for table, name in [("variants", "A"), ("variants", "B"), ("task_cards", "t1"),
                            ("task_cards", "t2")]:  # fmt: skip
            conn.execute(
                f"INSERT INTO {table} (name, spec, content_hash, comparable)"
                " VALUES (%s, '{}', 'h', '{}')",
                (name,),
            )
        for name, (variant, task, status, outcome, duration) in SESSIONS.items():
            conn.execute(
                "INSERT INTO sessions (id, experiment, variant, variant_version, task_card,"
                " task_card_version, harness_profile, replicate, status, outcome, key_alias,"
                " key_hash, budget_usd, ttl_seconds, repo_path, operator, opened_at, ended_at)"
                " VALUES (%s, 'exp', %s, 1, %s, 1, 'sdk', %s, %s, %s, %s, %s, 1, 60, '/', 'me',"
                " %s, %s)",
                (sid(name), variant, task, int(name[1]), status, outcome, f"alias-{name}",
                 f"hash-{name}", T0,
                 None if duration is None else T0 + timedelta(seconds=duration)),
            )  # fmt: skip
        conn.execute("UPDATE sessions SET outcome_source = 'verified' WHERE outcome IS NOT NULL")
        for i, (name, status, latency, ttft, quality, prompt, cached, completion, cost) in requests:
            variant, task = SESSIONS[name][:2]
            conn.execute(
                "INSERT INTO requests (request_id, session_id, experiment, variant,"
                " variant_version, task_card, task_card_version, key_hash, started_at, status,"
                " latency_ms, ttft_ms, ttft_quality, prompt_tokens, cached_read_tokens,"
                " completion_tokens, cost_usd, litellm_spend_usd, output_tokens_per_s)"
                " VALUES (%s, %s, 'exp', %s, 1, %s, 1, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " %s, %s)",
                (f"r{i}", sid(name), variant, task, f"hash-{name}", T0, status, latency, ttft,
                 quality, prompt, cached, completion, cost, cost, completion / latency * 1000),
            )  # fmt: skip


def rollups(url: str) -> dict:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT * FROM rollups ORDER BY level, variant, task_card").fetchall()
    return {(r["level"], r["variant"], r["task_card"]): r for r in rows}


@pytest.fixture
def figures(database_url):
    load(database_url, order_seed=1)
    return rollups(database_url)


def test_variant_by_task_card(figures):
    a1 = figures[("variant_task", "A", "t1")]
    assert (a1["requests"], a1["errors"], a1["successes"]) == (5, 1, 4)
    assert a1["error_rate"] == 0.2
    assert (a1["latency_p50_ms"], a1["latency_p90_ms"]) == (250.0, 370.0)
    assert a1["latency_p95_ms"] == pytest.approx(385.0)
    assert a1["latency_p99_ms"] == pytest.approx(397.0)
    # TTFT over measured successes only: 10, 20, 40.
    assert (a1["ttft_measured"], a1["ttft_p50_ms"], a1["ttft_p90_ms"]) == (3, 20.0, 36.0)
    assert (a1["prompt_tokens"], a1["cached_read_tokens"], a1["completion_tokens"]) == (
        400,
        150,
        60,
    )
    assert a1["cache_hit_ratio"] == 150 / 400
    assert a1["cost_usd"] == pytest.approx(1.0)
    assert (a1["sessions"], a1["sessions_with_outcome"], a1["sessions_succeeded"]) == (2, 2, 1)
    assert a1["success_rate"] == 0.5
    assert a1["session_duration_p50_s"] == 200.0
    assert a1["cost_per_success_usd"] == pytest.approx(1.0)


def test_variant_and_experiment_levels(figures):
    a = figures[("variant", "A", None)]
    assert (a["requests"], a["errors"], a["sessions"], a["sessions_succeeded"]) == (6, 1, 3, 2)
    assert a["latency_p50_ms"] == 300.0
    assert a["success_rate"] == pytest.approx(2 / 3)
    assert a["cost_per_success_usd"] == pytest.approx((0.3 + 0.7 + 0.5) / 2)
    # B: the open session counts, has no outcome yet; the aborted one is left out entirely.
    b = figures[("variant", "B", None)]
    assert (b["sessions"], b["sessions_with_outcome"], b["requests"]) == (1, 0, 1)
    assert b["success_rate"] is None and b["cost_per_success_usd"] is None
    assert b["latency_p50_ms"] == 1000.0
    e = figures[("experiment", None, None)]
    assert (e["sessions"], e["requests"], e["errors"]) == (4, 7, 1)
    assert e["cost_usd"] == pytest.approx(2.5)
    assert e["error_rate"] == pytest.approx(1 / 7)
    # Open sessions' spend is not charged to successes: they may still succeed.
    assert e["cost_per_success_usd"] == pytest.approx(1.5 / 2)


def test_session_rollups(database_url, figures):
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        rows = {
            r["session_id"]: r for r in conn.execute("SELECT * FROM session_rollups").fetchall()
        }
    s1 = rows[sid("S1")]
    assert (s1["requests"], s1["errors"], s1["duration_s"]) == (3, 1, 100.0)
    assert s1["error_rate"] == pytest.approx(1 / 3)
    assert s1["cost_usd"] == pytest.approx(0.3)
    assert s1["cache_hit_ratio"] == 0.25
    assert rows[sid("S4")]["duration_s"] is None
    assert rows[sid("S5")]["requests"] == 1  # shown per session, aborted or not


def test_same_data_same_numbers_whatever_the_order(postgres_server, database_url, figures):
    other = f"bc_roll_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{other}"')
    try:
        url = psycopg.conninfo.make_conninfo(database_url, dbname=other)
        load(url, order_seed=99)
        assert repr(rollups(url)) == repr(figures)
        assert repr(rollups(database_url)) == repr(figures)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{other}" WITH (FORCE)')
