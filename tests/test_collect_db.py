"""The collector's database source against real PostgreSQL: a LiteLLM-schema spend-log table
with synthetic rows shaped like LiteLLM's, and a real benchmark database.

Attribution, idempotence (same window twice, watermark and overlap, a collector SIGKILLed
mid-batch), content capture and its purge, and the errors a user can cause.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from fixtures.litellm import spendlogs
from fixtures.litellm.spendlogs import START, key_for

from benchctl.collect.engine import collect
from benchctl.collect.normalize import NOT_BENCHCTL, OTHER_DATABASE
from benchctl.settings import Settings

SINCE = START - timedelta(minutes=1)
CHECKSUM = "SELECT md5(string_agg(t::text, '|' ORDER BY request_id)) FROM {} t"


@pytest.fixture
def litellm_db(postgres_server):
    name = f"litellm_syn_{uuid.uuid4().hex[:12]}"
    url = spendlogs.create_database(postgres_server, name)
    yield url
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def settings(tmp_path, database_url, litellm_db) -> Settings:
    return Settings(
        root=tmp_path,
        database_url=database_url,
        proxy_url=None,
        litellm_database_url=litellm_db,
    )


def scalar(url: str, sql: str, *args):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchone()[0]


def checksum(url: str, table: str = "requests") -> str:
    return scalar(url, CHECKSUM.format(table))


def test_rows_join_their_sessions_by_key_hash(settings, database_url, litellm_db):
    keys = spendlogs.seed_sessions(database_url, 4)
    prefix = keys[0].alias[: -len(keys[0].session_id)]
    stranger = key_for("someone-else", "team-prod-key")
    other_db = key_for("other-db", "benchctl-0000ffff-" + str(uuid.uuid4()))
    gone = key_for("gone", prefix + str(uuid.uuid4()))
    spendlogs.insert(litellm_db, spendlogs.rows(200, keys))
    spendlogs.insert(litellm_db, spendlogs.rows(3, [stranger], first=1000))
    spendlogs.insert(litellm_db, spendlogs.rows(2, [other_db], first=2000))
    spendlogs.insert(litellm_db, spendlogs.rows(1, [gone], first=3000))

    summary = collect(settings, since=SINCE, batch_size=64)

    assert (summary.rows_read, summary.new, summary.updated, summary.unchanged) == (206, 200, 0, 0)
    assert summary.unattributed == 1
    assert summary.skipped == {NOT_BENCHCTL: 3, OTHER_DATABASE: 2}
    assert summary.tag_mismatches == 0 and summary.joined_by_alias == 0
    with psycopg.connect(database_url) as conn:
        per_session = dict(
            conn.execute(
                "SELECT s.key_hash, count(r.*) FROM sessions s"
                " LEFT JOIN requests r ON r.session_id = s.id GROUP BY s.key_hash"
            ).fetchall()
        )
        assert per_session == {k.hash: 50 for k in keys}
        statuses = dict(conn.execute("SELECT status, count(*) FROM requests GROUP BY 1"))
        assert statuses == {"success": 190, "failure": 10}
        (reason,) = conn.execute("SELECT reason FROM unattributed_requests").fetchone()
        assert "which this database does not have" in reason
        failure = conn.execute(
            "SELECT error_class, error_code, ttft_quality, streamed, cost_usd"
            " FROM requests WHERE status = 'failure' LIMIT 1"
        ).fetchone()
        assert failure == ("RateLimitError", "429", "equal_to_total", None, 0.0)
        quality = dict(
            conn.execute(
                "SELECT ttft_quality, count(*) FROM requests WHERE status = 'success' GROUP BY 1"
            )
        )
        assert quality == {"measured": 100, "equal_to_total": 90}


def test_cost_is_recomputed_from_the_provider_prices(settings, database_url, litellm_db):
    keys = spendlogs.seed_sessions(database_url, 1)
    spendlogs.insert(litellm_db, spendlogs.rows(1, keys))
    collect(settings, since=SINCE)
    with psycopg.connect(database_url) as conn:
        prompt, cached, completion, cost, spend = conn.execute(
            "SELECT prompt_tokens, cached_read_tokens, completion_tokens, cost_usd,"
            " litellm_spend_usd FROM requests"
        ).fetchone()
    expected = ((prompt - cached) * 2.0 + cached * 0.2 + completion * 8.0) / 1e6
    assert cost == pytest.approx(expected, rel=1e-12)
    assert spend == pytest.approx(expected, rel=1e-9)


def test_collecting_the_same_window_again_changes_nothing(settings, database_url, litellm_db):
    keys = spendlogs.seed_sessions(database_url, 3)
    spendlogs.insert(litellm_db, spendlogs.rows(120, keys))
    first = collect(settings, since=SINCE, batch_size=50)
    before = checksum(database_url)
    xmin = scalar(database_url, "SELECT sum(xmin::text::bigint) FROM requests")

    again = collect(settings, since=SINCE, batch_size=50)
    refreshed = collect(settings, since=SINCE, batch_size=50, refresh=True)

    assert first.new == 120
    for summary in (again, refreshed):
        assert (summary.rows_read, summary.new, summary.updated, summary.unchanged) == (
            120,
            0,
            0,
            120,
        )
    assert checksum(database_url) == before
    # Not even rewritten with equal values: the merge skips unchanged rows.
    assert scalar(database_url, "SELECT sum(xmin::text::bigint) FROM requests") == xmin


def test_watermark_and_overlap_catch_late_rows(settings, database_url, litellm_db):
    keys = spendlogs.seed_sessions(database_url, 2)
    spendlogs.insert(litellm_db, spendlogs.rows(100, keys))
    first = collect(settings)  # from the sessions' opening, minus the overlap
    assert first.new == 100 and first.watermark is not None
    assert first.watermark == START + timedelta(milliseconds=10 * 99)

    # A call that started before the watermark but was written after the first run.
    late = spendlogs.row(
        50_000,
        keys[0],
        start=first.watermark - timedelta(seconds=30) - 50_000 * timedelta(milliseconds=10),
    )
    spendlogs.insert(litellm_db, [late, *spendlogs.rows(10, keys, first=100)])
    second = collect(settings)
    assert second.since == first.watermark - timedelta(minutes=10)
    assert (second.new, second.updated) == (11, 0)
    assert second.unchanged == 100
    assert scalar(database_url, "SELECT count(*) FROM requests") == 111


def test_narrowed_runs_do_not_move_the_watermark(settings, database_url, litellm_db):
    keys = spendlogs.seed_sessions(database_url, 2)
    spendlogs.insert(litellm_db, spendlogs.rows(40, keys))
    only = collect(settings, sessions=[keys[0].session_id[:8]])
    assert only.new == 20 and only.watermark is None
    assert only.skipped == {"session not selected": 20}
    everything = collect(settings)
    assert (everything.new, everything.unchanged) == (20, 20)


def test_a_replaced_key_joins_through_its_alias(settings, database_url, litellm_db):
    keys = spendlogs.seed_sessions(database_url, 1)
    spendlogs.insert(litellm_db, spendlogs.rows(4, keys))
    # The session was re-keyed after these calls: its row now holds another hash.
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE sessions SET key_hash = %s", ("f" * 64,))
    summary = collect(settings, since=SINCE)
    assert summary.new == 4 and summary.joined_by_alias == 4
    assert scalar(database_url, "SELECT count(*) FROM requests WHERE joined_by = 'key_alias'") == 4


def test_tags_that_disagree_are_reported_not_followed(settings, database_url, litellm_db):
    keys = spendlogs.seed_sessions(database_url, 2)
    lying = replace(keys[0], tags=(f"session:{keys[1].session_id}",))
    spendlogs.insert(litellm_db, spendlogs.rows(3, [lying]))
    summary = collect(settings, since=SINCE)
    assert summary.tag_mismatches == 3
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT session_id::text, tag_mismatch FROM requests").fetchall()
    assert rows == [(keys[0].session_id, True)] * 3


@pytest.mark.parametrize(
    "failpoint", ["collect.batch_copied", "collect.batch_merged", "collect.batch_committed"]
)
def test_a_collector_killed_mid_batch_converges(
    tmp_path, postgres_server, database_url, litellm_db, failpoint
):
    keys = spendlogs.seed_sessions(database_url, 3)
    spendlogs.insert(litellm_db, spendlogs.rows(300, keys))
    reference_db = f"bc_ref_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{reference_db}"')
    reference = psycopg.conninfo.make_conninfo(database_url, dbname=reference_db)
    try:
        spendlogs.seed_sessions(reference, 3)
        # Same lineage is not needed: key hashes join; aliases only differ in their prefix.
        uninterrupted = run(tmp_path, reference, litellm_db)
        assert uninterrupted.returncode == 0, uninterrupted.stderr

        killed = run(tmp_path, database_url, litellm_db, failpoint=failpoint)
        assert killed.returncode == -9, killed.stderr
        loaded = scalar(database_url, "SELECT count(*) FROM requests")
        assert loaded == (0 if failpoint != "collect.batch_committed" else 64)
        rerun = run(tmp_path, database_url, litellm_db)
        assert rerun.returncode == 0, rerun.stderr
        summary = json.loads(rerun.stdout)
        assert summary["new"] == 300 - loaded and summary["unchanged"] == loaded
        assert checksum(database_url) == checksum(reference)
        again = json.loads(run(tmp_path, database_url, litellm_db).stdout)
        assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, 300)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{reference_db}" WITH (FORCE)')


def run(root: Path, database_url: str, litellm_db: str, failpoint: str | None = None):
    env = {
        **os.environ,
        "BENCHCTL_DATABASE_URL": database_url,
        "BENCHCTL_LITELLM_DATABASE_URL": litellm_db,
    }
    for name in ("BENCHCTL_FAILPOINT", "BENCHCTL_PROXY_URL", "BENCHCTL_PROMETHEUS_URL"):
        env.pop(name, None)
    if failpoint:
        env["BENCHCTL_FAILPOINT"] = failpoint
    return subprocess.run(
        [sys.executable, "-m", "benchctl", "collect", "--root", str(root), "--since",
         SINCE.isoformat(), "--batch-size", "64", "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_content_is_captured_redacted_and_purged(tmp_path, database_url, litellm_db, run_cli):
    capture = {"enabled": True, "redact": [r"secret-\w+"], "retention": "3650d"}
    keys = spendlogs.seed_sessions(database_url, 1, capture=capture)
    row = list(spendlogs.row(0, keys[0]))
    messages = [{"role": "user", "content": "use secret-abc123 please"}]
    row[spendlogs.COLUMNS.index("messages")] = json.dumps(messages)
    row[spendlogs.COLUMNS.index("response")] = json.dumps({"text": "ok secret-zz"})
    spendlogs.insert(litellm_db, [tuple(row), spendlogs.row(1, keys[0])])
    env = {"BENCHCTL_DATABASE_URL": database_url, "BENCHCTL_LITELLM_DATABASE_URL": litellm_db}

    done = run_cli("collect", "--root", str(tmp_path), "--since", SINCE.isoformat(), env=env)
    assert done.exit_code == 0, done.output
    assert "content        1 stored" in done.output
    with psycopg.connect(database_url) as conn:
        stored = conn.execute(
            "SELECT messages, response, expires_at - captured_at FROM request_content"
        ).fetchone()
    assert stored == (
        [{"role": "user", "content": "use [redacted] please"}],
        {"text": "ok [redacted]"},
        timedelta(days=3650),
    )
    purged = run_cli("purge-content", "--root", str(tmp_path), env=env)
    assert "0 request(s)" in purged.output  # not expired yet
    purged = run_cli("purge-content", "--root", str(tmp_path), "--experiment", "demo", env=env)
    assert "1 request(s)" in purged.output
    assert scalar(database_url, "SELECT count(*) FROM request_content") == 0
    assert scalar(database_url, "SELECT count(*) FROM requests") == 2


def test_content_is_not_stored_without_capture(settings, database_url, litellm_db):
    keys = spendlogs.seed_sessions(database_url, 1)
    row = list(spendlogs.row(0, keys[0]))
    row[spendlogs.COLUMNS.index("messages")] = json.dumps([{"role": "user", "content": "x"}])
    spendlogs.insert(litellm_db, [tuple(row)])
    assert collect(settings, since=SINCE).content_captured == 0
    assert scalar(database_url, "SELECT count(*) FROM request_content") == 0


def test_json_summary(tmp_path, database_url, litellm_db, run_cli):
    keys = spendlogs.seed_sessions(database_url, 1)
    spendlogs.insert(litellm_db, spendlogs.rows(5, keys))
    env = {"BENCHCTL_DATABASE_URL": database_url, "BENCHCTL_LITELLM_DATABASE_URL": litellm_db}
    done = run_cli("collect", "--root", str(tmp_path), "--json", env=env)
    data = json.loads(done.output)
    assert data["format_version"] == 1 and data["source"] == "database"
    assert (data["rows_read"], data["new"]) == (5, 5)
    assert data["prometheus"].startswith("not configured")


@pytest.mark.parametrize(
    ("args", "env_extra", "message"),
    [
        ((), {}, "nothing to collect from: set BENCHCTL_LITELLM_DATABASE_URL"),
        (("--source", "database"), {}, "--source database needs BENCHCTL_LITELLM_DATABASE_URL"),
        (("--source", "api"), {}, "--source api needs BENCHCTL_PROXY_URL"),
        (("--since", "yesterday"), {"litellm": True}, "--since 'yesterday' is neither"),
        (("--overlap", "2s"), {"litellm": True}, "--overlap must be at least 6s"),
        (("--session", "zzzz"), {"litellm": True}, "no session 'zzzz'"),
        (("--experiment", "nope"), {"litellm": True}, "experiment 'nope' has no sessions"),
    ],
)
def test_user_errors_are_one_clear_line(
    tmp_path, database_url, litellm_db, run_cli, args, env_extra, message
):
    spendlogs.seed_sessions(database_url, 1)
    env = {
        "BENCHCTL_DATABASE_URL": database_url,
        "BENCHCTL_LITELLM_DATABASE_URL": litellm_db if env_extra else "",
        "BENCHCTL_PROXY_URL": "",
        "BENCHCTL_PROXY_MASTER_KEY": "",
        "LITELLM_MASTER_KEY": "",
    }
    done = run_cli("collect", "--root", str(tmp_path), *args, env=env)
    assert done.exit_code == 2, done.output
    assert message in done.output
    assert scalar(database_url, "SELECT count(*) FROM requests") == 0


def test_a_database_without_litellm_tables_is_explained(tmp_path, database_url, run_cli):
    spendlogs.seed_sessions(database_url, 1)
    env = {"BENCHCTL_DATABASE_URL": database_url, "BENCHCTL_LITELLM_DATABASE_URL": database_url}
    done = run_cli("collect", "--root", str(tmp_path), env=env)
    assert done.exit_code == 1
    assert 'has no "LiteLLM_SpendLogs" table' in done.output


def test_an_unreachable_litellm_database_is_explained(tmp_path, database_url, run_cli):
    spendlogs.seed_sessions(database_url, 1)
    url = "postgresql://nobody:hunter2@127.0.0.1:1/litellm"
    env = {"BENCHCTL_DATABASE_URL": database_url, "BENCHCTL_LITELLM_DATABASE_URL": url}
    done = run_cli("collect", "--root", str(tmp_path), env=env)
    assert done.exit_code == 1
    assert "cannot connect to LiteLLM's database" in done.output
    assert "hunter2" not in done.output


def test_status_classes_and_what_counts_as_an_error(database_url):
    """The provider's errors apart from the proxy's refusals and the client's cancellations:
    the session's error rate counts upstream errors over the calls that reached upstream."""
    (key,) = spendlogs.seed_sessions(database_url, 1)
    codes = [None, None, "500", "429", "400", "401", "403", "422", "499"]
    with psycopg.connect(database_url) as conn:
        session = conn.execute(
            "SELECT id, experiment, variant, task_card FROM sessions WHERE key_hash = %s",
            (key.hash,),
        ).fetchone()
        for i, code in enumerate(codes):
            conn.execute(
                "INSERT INTO requests (request_id, session_id, experiment, variant,"
                " variant_version, task_card, task_card_version, key_hash, started_at,"
                " ttft_quality, status, error_code) VALUES (%s, %s, %s, %s, 1, %s, 1, %s,"
                " now(), 'missing', %s, %s)",
                (f"r{i}", *session, key.hash, "success" if code is None else "failure", code),
            )
        classes = conn.execute(
            "SELECT error_code, status_class FROM requests ORDER BY request_id"
        ).fetchall()
        figures = conn.execute(
            "SELECT requests, errors, refused, cancelled, error_rate FROM session_rollups"
            " WHERE session_id = %s",
            (session[0],),
        ).fetchone()
    assert [c for _, c in classes] == [
        "success", "success", "upstream_error", "upstream_error", "upstream_error",
        "refused", "refused", "refused", "cancelled",
    ]  # fmt: skip
    # 3 upstream errors of the 6 calls that reached the upstream (refusals never did).
    assert figures == (9, 3, 3, 1, pytest.approx(3 / 6))


def test_a_price_change_recosts_nothing_until_asked(settings, database_url, litellm_db):
    keys = spendlogs.seed_sessions(database_url, 1)
    spendlogs.insert(litellm_db, spendlogs.rows(3, keys))
    collect(settings, since=SINCE)
    before = dict(scalar_rows(database_url, "SELECT request_id, cost_usd FROM requests ORDER BY 1"))
    versions = {v for (v,) in scalar_rows(database_url, "SELECT price_version FROM requests")}
    assert len(versions) == 1 and None not in versions
    # The provider's prices double after the rows were costed.
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE providers SET spec = jsonb_set(spec, '{spec,models,sim-fast,prices}',"
            ' \'{"input": 4.0, "output": 16.0, "cache_read": 0.4}\')'
        )
    again = collect(settings, since=SINCE, refresh=True)
    assert again.kept_costs == 3 and again.updated == 0
    assert dict(scalar_rows(database_url, "SELECT request_id, cost_usd FROM requests")) == before
    recosted = collect(settings, since=SINCE, recost=True)
    assert (recosted.kept_costs, recosted.updated) == (0, 3)
    after = dict(scalar_rows(database_url, "SELECT request_id, cost_usd FROM requests"))
    assert all(after[r] == pytest.approx(2 * before[r]) for r in before)


def scalar_rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_rows_never_priced_get_their_first_price(settings, database_url, litellm_db):
    keys = spendlogs.seed_sessions(database_url, 1)
    spendlogs.insert(litellm_db, spendlogs.rows(2, keys))
    with psycopg.connect(database_url) as conn:  # the model's prices are missing at first
        conn.execute("UPDATE providers SET spec = jsonb_set(spec, '{spec,models}', '{}')")
    collect(settings, since=SINCE)
    assert scalar_rows(database_url, "SELECT DISTINCT cost_usd, price_version FROM requests") == [
        (None, None)
    ]
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE providers SET spec = jsonb_set(spec, '{spec,models}',"
            ' \'{"sim-fast": {"prices": {"input": 2.0, "output": 8.0}}}\')'
        )
    fixed = collect(settings, since=SINCE, refresh=True)
    assert fixed.kept_costs == 0
    assert all(c is not None and v for c, v in scalar_rows(
        database_url, "SELECT cost_usd, price_version FROM requests"
    ))  # fmt: skip


def test_a_row_made_after_its_session_ended_leaves_requests(settings, database_url, litellm_db):
    keys = spendlogs.seed_sessions(database_url, 1)
    spendlogs.insert(litellm_db, spendlogs.rows(3, keys))
    collect(settings, since=SINCE)
    assert scalar(database_url, "SELECT count(*) FROM requests") == 3
    # The session ended well before its last call (LiteLLM logged it late, say).
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE sessions SET status = 'finalized', ended_at ="
            " (SELECT max(started_at) FROM requests) - interval '1 minute'"
        )
    collect(settings, since=SINCE, refresh=True)
    in_requests = scalar(database_url, "SELECT count(*) FROM requests")
    apart = scalar(database_url, "SELECT count(*) FROM unattributed_requests")
    both = scalar(
        database_url,
        "SELECT count(*) FROM requests r JOIN unattributed_requests u USING (request_id)",
    )
    assert (in_requests + apart, both) == (3, 0) and apart >= 1
