"""The collector against the real LiteLLM proxy: sessions opened by `benchctl apply` with real
keys, traffic through them (streamed and not, successes, simulated 429/500, a refused model, an
exhausted budget), collected through both the proxy's API and LiteLLM's own database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from fixtures.litellm.spendlogs import CREATE_TABLE

from benchctl.litellm.client import hash_key
from benchctl.manifests.loader import load_repository
from benchctl.reconcile.envfile import key_from_file
from benchctl.sim.behaviour import Prompt, sample

from conftest import REPO_ROOT
from proxy_stack import session_env

FAST, SLOW, TASK = "sdk-sim-fast", "sdk-sim-slow-cheap", "fix-median"
BATCH_WAIT_S = 30.0


@pytest.fixture
def repo(example_repo):
    return example_repo


@pytest.fixture
def env(litellm_proxy, database_url):
    return session_env(litellm_proxy, database_url)


def cli(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    ambient = ("BENCHCTL_FAILPOINT", "BENCHCTL_PROMETHEUS_URL", "BENCHCTL_LITELLM_DATABASE_URL")
    full = {k: v for k, v in os.environ.items() if k not in ambient} | env
    return subprocess.run(
        [sys.executable, "-m", "benchctl", *args, "--root", str(repo)],
        env=full,
        capture_output=True,
        text=True,
        timeout=180,
    )


def open_sessions(repo: Path, env: dict[str, str], variants: list[str]) -> dict[str, str]:
    """Variant -> the raw key of its freshly opened session."""
    for variant in variants:
        added = cli(repo, env, "session", "add", "demo", variant, TASK)
        assert added.returncode == 0, added.stderr
    done = cli(repo, env, "apply", "--auto-approve")
    assert done.returncode == 0, done.stdout + done.stderr
    keys = {}
    with psycopg.connect(env["BENCHCTL_DATABASE_URL"]) as conn:
        for sid, variant, key_hash in conn.execute(
            "SELECT id::text, variant, key_hash FROM sessions WHERE status = 'open'"
        ):
            key = key_from_file(repo / ".benchctl" / "sessions" / f"{sid}.env", key_hash)
            assert key is not None and hash_key(key) == key_hash
            keys[variant] = key
    return keys


def chat(proxy, key: str, model: str, content: str, *, stream: bool = False) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 20}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream(
        "POST",
        f"{proxy.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json=body,
        timeout=60,
    ) as response:
        response.read()
        return response.status_code


def drawn_prompt(model_id: str, kind: str | None, attempts: int = 1) -> str:
    """A prompt the simulator answers with error ``kind`` (None: success) on its first
    ``attempts`` occurrences, so a test's expected statuses never depend on luck."""
    spec = load_repository(REPO_ROOT).repository.providers["sim"].model
    seed = spec.spec.simulator.seed
    nonce = uuid.uuid4().hex
    for n in range(2_000_000):
        content = f"collect test {nonce} {n}"
        body = {"messages": [{"role": "user", "content": content}], "max_tokens": 20}
        prompt = Prompt.of(body)
        if all(
            sample(
                seed=seed,
                model=model_id,
                spec=spec.spec.models[model_id],
                prompt=prompt,
                occurrence=i,
            ).error_kind
            == kind
            for i in range(attempts)
        ):
            return content
    raise AssertionError(f"no prompt draws {kind} {attempts} times")


def wait_for_rows(proxy, hashes: set[str], count: int) -> None:
    """Poll LiteLLM's table until ``count`` rows of these keys are written (batched writes)."""
    deadline = time.monotonic() + BATCH_WAIT_S
    found = 0
    while time.monotonic() < deadline:
        with psycopg.connect(proxy.database_url) as conn:
            (found,) = conn.execute(
                'SELECT count(*) FROM "LiteLLM_SpendLogs" WHERE api_key = ANY(%s)',
                (list(hashes),),
            ).fetchone()
        if found >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"LiteLLM wrote {found} of {count} spend-log rows in {BATCH_WAIT_S}s")


def collected(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT s.variant, r.status, r.error_code, r.streamed, r.ttft_quality,"
            " r.requested_model, r.completion_tokens > 0, r.joined_by, r.tag_mismatch"
            " FROM requests r JOIN sessions s ON s.id = r.session_id"
            " ORDER BY r.started_at"
        ).fetchall()


def test_traffic_lands_on_its_sessions_through_both_sources(
    repo, env, litellm_proxy, database_url, tmp_path
):
    keys = open_sessions(repo, env, [FAST, SLOW])
    fast, slow = keys[FAST], keys[SLOW]
    sent = []

    def send(key, model, content, expected, *, stream=False):
        status = chat(litellm_proxy, key, model, content, stream=stream)
        assert status == expected, (model, content, status)
        sent.append((model, status))

    tag = uuid.uuid4().hex
    send(fast, FAST, drawn_prompt("sim-fast", None), 200)
    send(fast, FAST, drawn_prompt("sim-fast", None), 200, stream=True)
    send(fast, SLOW, f"not my model {tag}", 403)
    send(slow, SLOW, drawn_prompt("sim-slow-cheap", "rate_limit", 3), 429)
    send(slow, SLOW, drawn_prompt("sim-slow-cheap", "server_error", 3), 500)
    # An exhausted budget: the proxy refuses the key's next call.
    with litellm_proxy.client() as client:
        client.update_key(hash_key(slow), max_budget=1e-9)
    send(slow, SLOW, drawn_prompt("sim-slow-cheap", None), 200, stream=True)
    send(slow, SLOW, f"over budget {tag}", 400 + 22)
    wait_for_rows(litellm_proxy, {hash_key(fast), hash_key(slow)}, len(sent))
    api_env = {**env, "BENCHCTL_LITELLM_DATABASE_URL": ""}
    via_api = cli(repo, api_env, "collect", "--source", "api", "--json")
    assert via_api.returncode == 0, via_api.stderr
    summary = json.loads(via_api.stdout)
    assert summary["new"] == len(sent) and summary["unattributed"] == 0, summary
    rows = collected(database_url)
    expected = [
        (FAST, "success", None, False, "equal_to_total", FAST, True, "key_hash", False),
        (FAST, "success", None, True, "measured", FAST, True, "key_hash", False),
        (FAST, "failure", "403", None, "equal_to_total", SLOW, False, "key_hash", False),
        (SLOW, "failure", "429", None, "equal_to_total", SLOW, False, "key_hash", False),
        (SLOW, "failure", "500", None, "equal_to_total", SLOW, False, "key_hash", False),
        (SLOW, "success", None, True, "measured", SLOW, True, "key_hash", False),
        (SLOW, "failure", "422", None, "equal_to_total", SLOW, False, "key_hash", False),
    ]
    assert [r[:3] for r in rows] == [e[:3] for e in expected]
    assert rows == expected
    with psycopg.connect(database_url) as conn:
        api_rows = conn.execute(
            "SELECT md5(string_agg(t::text, '|' ORDER BY request_id)) FROM requests t"
        ).fetchone()
        classes = dict(conn.execute("SELECT error_code, error_class FROM requests"))
        status_classes = dict(
            conn.execute("SELECT coalesce(error_code, 'ok'), status_class FROM requests")
        )
        (fast_figures,) = conn.execute(
            "SELECT errors, refused, requests FROM session_rollups WHERE variant = %s", (FAST,)
        )
    assert classes["422"] == "BudgetExceededError"
    # The provider's errors, apart from what the proxy refused (the wrong model, the budget).
    assert status_classes == {
        "ok": "success", "403": "refused", "429": "upstream_error", "500": "upstream_error",
        "422": "refused",
    }  # fmt: skip
    # The fast session's only failure asked for a model its key may not use: not its error.
    assert fast_figures == (0, 1, 3)
    # Failed calls reported no usage: the provider billed nothing, and neither do we.
    with psycopg.connect(database_url) as conn:
        failed_costs = {c for (c,) in conn.execute(
            "SELECT cost_usd FROM requests WHERE status = 'failure'"
        )}  # fmt: skip
    assert failed_costs == {0.0}

    db_env = {**env, "BENCHCTL_LITELLM_DATABASE_URL": litellm_proxy.database_url}
    via_db = cli(repo, db_env, "collect", "--source", "database", "--json")
    assert via_db.returncode == 0, via_db.stderr
    summary = json.loads(via_db.stdout)
    assert (summary["new"], summary["updated"], summary["unattributed"]) == (0, len(sent), 0)
    # The database adds what the list API does not return (LiteLLM's updated_at); nothing else.
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE requests SET source_updated_at = NULL")
        db_rows = conn.execute(
            "SELECT md5(string_agg(t::text, '|' ORDER BY request_id)) FROM requests t"
        ).fetchone()
        conn.rollback()
    assert db_rows == api_rows
    again = json.loads(cli(repo, db_env, "collect", "--source", "database", "--json").stdout)
    assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, len(sent))


def test_synthetic_table_matches_litellms(litellm_proxy, postgres_server):
    """tests/fixtures/litellm/spendlogs.py's table (bench/collect_scale.py's) is LiteLLM's."""
    columns = (
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_name = 'LiteLLM_SpendLogs' ORDER BY column_name"
    )
    with psycopg.connect(litellm_proxy.database_url) as conn:
        real = conn.execute(columns).fetchall()
    name = f"bc_syn_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = psycopg.conninfo.make_conninfo(postgres_server, dbname=name)
        with psycopg.connect(url) as conn:
            conn.execute(CREATE_TABLE)
            ours = conn.execute(columns).fetchall()
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    assert ours == real


def test_prometheus_histograms_per_key_alias(repo, env, litellm_proxy, prometheus, database_url):
    keys = open_sessions(repo, env, [FAST])
    for stream in (False, True, False):
        prompt = drawn_prompt("sim-fast", None)
        assert chat(litellm_proxy, keys[FAST], FAST, prompt, stream=stream) == 200
    with psycopg.connect(database_url) as conn:
        (alias,) = conn.execute("SELECT key_alias FROM sessions").fetchone()
    count = f'sum(litellm_request_total_latency_metric_count{{api_key_alias="{alias}"}})'
    deadline = time.monotonic() + BATCH_WAIT_S
    while time.monotonic() < deadline:
        result = prometheus.query(count)
        if result and float(result[0]["value"][1]) == 3:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"Prometheus did not scrape 3 calls of {alias}: {result}")

    # LiteLLM loses a spend row (as its users report it does): Prometheus still counted it.
    wait_for_rows(litellm_proxy, {hash_key(keys[FAST])}, 3)
    with psycopg.connect(litellm_proxy.database_url) as conn:
        conn.execute(
            'DELETE FROM "LiteLLM_SpendLogs" WHERE request_id = (SELECT request_id FROM'
            ' "LiteLLM_SpendLogs" WHERE api_key = %s ORDER BY "startTime" LIMIT 1)',
            (hash_key(keys[FAST]),),
        )

    prom_env = {**env, "BENCHCTL_PROMETHEUS_URL": prometheus.url}
    done = cli(repo, prom_env, "collect", "--source", "api", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert "key alias(es)" in summary["prometheus"]
    assert summary["new"] == 2
    assert (summary["spend_log_gaps"], summary["spend_log_gap_sessions"]) == (1, 1)
    text = cli(repo, prom_env, "collect", "--source", "api")
    assert "spend gaps     1 successful call(s) in 1 session(s)" in text.stdout
    with psycopg.connect(database_url) as conn:
        samples = dict(
            conn.execute(
                "SELECT metric, value FROM prometheus_samples"
                " WHERE key_alias = %s AND le = 'Infinity'",
                (alias,),
            ).fetchall()
        )
        (session_ids,) = conn.execute(
            "SELECT count(DISTINCT session_id) FROM prometheus_samples WHERE session_id IS NOT NULL"
        ).fetchone()
    assert samples["litellm_request_total_latency_metric"] == 3  # the +Inf bucket
    assert samples["litellm_request_total_latency_metric_count"] == 3
    assert samples["litellm_request_total_latency_metric_sum"] > 0
    assert "litellm_overhead_latency_metric_count" in samples
    assert session_ids == 1


def test_an_absent_prometheus_is_reported_not_fatal(repo, env, litellm_proxy, database_url):
    open_sessions(repo, env, [FAST])
    gone = {**env, "BENCHCTL_PROMETHEUS_URL": "http://127.0.0.1:1"}
    done = cli(repo, gone, "collect", "--source", "api")
    assert done.returncode == 0, done.stderr
    assert "prometheus     unavailable at http://127.0.0.1:1" in done.stdout


def test_calls_after_finalize_and_cut_streams_land_in_their_classes(
    repo, env, litellm_proxy, database_url
):
    """A harness that goes on calling with its revoked key, and a client that closes a stream
    half-way: neither is one of the session's errors."""
    keys = open_sessions(repo, env, [FAST])
    key = keys[FAST]
    assert chat(litellm_proxy, key, FAST, drawn_prompt("sim-fast", None)) == 200
    # The client reads the first chunk of a streamed answer, then hangs up.
    body = {
        "model": FAST, "stream": True, "stream_options": {"include_usage": True},
        "max_tokens": 400,
        "messages": [{"role": "user", "content": drawn_prompt("sim-fast", None)}],
    }  # fmt: skip
    with httpx.stream(
        "POST", f"{litellm_proxy.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"}, json=body, timeout=60,
    ) as response:  # fmt: skip
        assert response.status_code == 200
        next(response.iter_bytes())
    with psycopg.connect(database_url) as conn:
        (sid,) = conn.execute("SELECT id::text FROM sessions").fetchone()
    finalized = cli(repo, env, "session", "finalize", sid[:8], "--outcome", "success")
    assert finalized.returncode == 0, finalized.stderr
    applied = cli(repo, env, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    # The key is gone: the proxy refuses the harness's next call.
    assert chat(litellm_proxy, key, FAST, drawn_prompt("sim-fast", None)) == 401

    deadline = time.monotonic() + BATCH_WAIT_S
    while time.monotonic() < deadline:
        with psycopg.connect(litellm_proxy.database_url) as conn:
            (rows,) = conn.execute(
                'SELECT count(*) FROM "LiteLLM_SpendLogs" WHERE api_key = %s', (hash_key(key),)
            ).fetchone()
        if rows >= 3:
            break
        time.sleep(0.2)
    collected = cli(repo, env, "collect", "--source", "api", "--json")
    assert collected.returncode == 0, collected.stderr
    summary = json.loads(collected.stdout)
    with psycopg.connect(database_url) as conn:
        classes = conn.execute(
            "SELECT status_class, error_code FROM requests ORDER BY started_at"
        ).fetchall()
        reasons = [r for (r,) in conn.execute("SELECT reason FROM unattributed_requests")]
        (errors, refused) = conn.execute(
            "SELECT errors, refused FROM session_rollups WHERE session_id = %s", (sid,)
        ).fetchone()
    # The call, the stream the client cut (LiteLLM's 499) and, apart, the revoked key's 401.
    assert classes == [("success", None), ("cancelled", "499")]
    assert (summary["new"], summary["unattributed"]) == (2, 1)
    (reason,) = reasons
    assert reason == f"made after its session ended (session {sid} is finalized)"
    assert (errors, refused) == (0, 0)
    # The cut stream keeps the tokens it was billed for, at the variant's prices.
    with psycopg.connect(database_url) as conn:
        (billed,) = conn.execute(
            "SELECT cost_usd FROM requests WHERE status_class = 'cancelled'"
        ).fetchone()
    assert billed is not None and billed >= 0


def test_which_routes_carry_litellms_overhead(repo, env, litellm_proxy, database_url):
    """LiteLLM 1.106.2 records its own overhead for non-streamed calls and for streamed
    Anthropic messages, but not for streamed OpenAI chat completions (docs/collect.md)."""
    anthropic = "sdk-anthropic-sim-fast"
    keys = open_sessions(repo, env, [FAST, anthropic])
    assert chat(litellm_proxy, keys[FAST], FAST, drawn_prompt("sim-fast", None)) == 200
    assert chat(litellm_proxy, keys[FAST], FAST, drawn_prompt("sim-fast", None), stream=True) == 200
    body = {
        "model": anthropic, "max_tokens": 20, "stream": True,
        "messages": [{"role": "user", "content": drawn_prompt("sim-fast", None)}],
    }  # fmt: skip
    with httpx.stream(
        "POST", f"{litellm_proxy.url}/v1/messages",
        headers={"x-api-key": keys[anthropic], "anthropic-version": "2023-06-01"},
        json=body, timeout=60,
    ) as response:  # fmt: skip
        response.read()
        assert response.status_code == 200
    wait_for_rows(litellm_proxy, {hash_key(keys[FAST]), hash_key(keys[anthropic])}, 3)
    done = cli(repo, env, "collect", "--source", "api", "--json")
    assert done.returncode == 0, done.stderr
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT variant, streamed, proxy_overhead_ms IS NOT NULL FROM requests"
            " ORDER BY started_at"
        ).fetchall()
    assert rows == [(FAST, False, True), (FAST, True, False), (anthropic, True, True)], rows
