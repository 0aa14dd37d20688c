"""Two LiteLLM proxy instances with Redis on one LiteLLM database, for real: `benchctl up
--proxies 2` starts them, and what a team relies on holds across instances.

- a key created through one instance works on every instance;
- a key's budget is one budget: spend on both instances adds up before the cap;
- a key revoked through one instance is refused by the other within a stated bound;
- `benchctl collect` gets every request of every instance exactly once, and Prometheus
  scrapes both instances, whose histograms the collector sums per session;
- two runners, as on two hosts (each its own clone, each near one instance, sharing only the
  database and proxy URLs), finish a grid with no session run twice, and what they produced
  (run logs, verifier results) is read from the database by a report made elsewhere.

One stack for the module (about 30 s to start); each test uses keys of its own.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import psycopg
import pytest
from test_collect_proxy import chat, drawn_prompt, wait_for_rows
from test_stack import Stack, make_stack, require_litellm, teardown

from benchctl.litellm.client import LiteLLMClient, hash_key
from benchctl.litellm.config import DEFAULT_KEY_CACHE_TTL_S
from benchctl.reconcile.envfile import key_from_file
from benchctl.settings import Settings
from benchctl.stack.state import load_state, master_key

from conftest import copy_manifests, fresh_database
from proxy_stack import free_port, unavailable
from runs_support import cli, grid, only_experiment, popen

FAST, TASK = "sdk-sim-fast", "fix-median"
# A revoked key is refused everywhere once every instance dropped its cached copy: the key
# cache's TTL, plus a poll's round trip.
REVOCATION_BOUND_S = DEFAULT_KEY_CACHE_TTL_S + 2.0
SCRAPE_WAIT_S = 30.0


def consecutive_free_ports(count: int) -> int:
    """A port p such that p .. p + count - 1 are all free: the instances' ports."""
    for _ in range(50):
        first = free_port()
        if all(_free(first + i) for i in range(1, count)):
            return first
    raise AssertionError(f"no {count} consecutive free ports on loopback")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def scaled(postgres_server: str) -> Iterator[Stack]:
    require_litellm()
    if shutil.which("redis-server") is None:
        unavailable("no `redis-server` on PATH (Debian: apt-get install redis-server)")
    with fresh_database(postgres_server) as database_url:
        running = make_stack(database_url)
        running.ports["proxy"] = consecutive_free_ports(2)
        running.ports["redis"] = free_port()
        try:
            done = running.up("--proxies", "2", "--redis-port", str(running.ports["redis"]))
            if done.returncode != 0:
                unavailable(f"benchctl up --proxies 2 failed:\n{done.stderr[-3000:]}")
            yield running
        finally:
            teardown(running)


def instances(stack: Stack) -> list[str]:
    return [p.url for p in load_state(stack.root / ".benchctl").proxies()]


def admin(stack: Stack, url: str) -> LiteLLMClient:
    key = master_key(stack.root / ".benchctl", create=False)
    assert key is not None
    return LiteLLMClient(url, key)


def new_key(stack: Stack, *, budget: float) -> str:
    """A key made through the first instance only, scoped like a session key."""
    with admin(stack, instances(stack)[0]) as client:
        made = client.generate_key(
            alias=f"scale-{uuid.uuid4().hex[:8]}",
            models=[FAST],
            duration_seconds=600,
            max_budget=budget,
            metadata={},
        )
    return made.key


def call(url: str, key: str) -> int:
    return chat(SimpleNamespace(url=url), key, FAST, drawn_prompt("sim-fast", None))


def test_status_shows_redis_and_each_instance(scaled: Stack):
    status = scaled.status()
    names = [part["name"] for part in status["parts"]]
    assert names[:5] == ["postgres", "sim", "redis", "proxy", "proxy-2"]
    assert status["healthy"] is True
    first = scaled.ports["proxy"]
    assert instances(scaled) == [f"http://127.0.0.1:{first}", f"http://127.0.0.1:{first + 1}"]
    config = (scaled.root / ".benchctl" / "stack" / "litellm.yaml").read_text()
    for setting in (
        "coordination_redis",
        "use_redis_transaction_buffer",
        "enable_redis_auth_cache",
    ):
        assert f"{setting}:" in config
    # `up` again keeps the instance count without --proxies, and starts nothing.
    again = scaled.up()
    assert again.returncode == 0, again.stderr
    assert "proxy-2" in again.stdout and "started" not in again.stdout


def test_sessions_spread_over_the_instances(scaled: Stack):
    settings = Settings.from_env(scaled.root)
    assert settings.proxy_url == instances(scaled)[0]  # admin calls: the first instance
    assert list(settings.session_proxy_urls) == instances(scaled)
    ids = [str(uuid.uuid4()) for _ in range(400)]
    chosen = [settings.session_proxy_url(i) for i in ids]
    assert chosen == [settings.session_proxy_url(i) for i in ids]  # deterministic
    for url in instances(scaled):
        assert 0.4 < chosen.count(url) / len(ids) < 0.6


def test_a_key_made_through_one_instance_works_on_every_instance(scaled: Stack):
    key = new_key(scaled, budget=1.0)
    assert [call(url, key) for url in instances(scaled)] == [200, 200]


def test_a_revoked_key_is_refused_everywhere_within_the_bound(scaled: Stack):
    measured = []
    for revoker, other in (instances(scaled), list(reversed(instances(scaled)))):
        key = new_key(scaled, budget=1.0)
        # The other instance has the key cached: it must not keep trusting that copy.
        assert call(other, key) == 200 and call(other, key) == 200
        with admin(scaled, revoker) as client:
            client.delete_keys(tokens=[hash_key(key)])
        started = time.monotonic()
        while (status := call(other, key)) == 200:
            assert time.monotonic() - started < REVOCATION_BOUND_S, "revoked key still passes"
            time.sleep(0.05)
        measured.append(time.monotonic() - started)
        assert status == 401
        assert call(revoker, key) == 401
    print(f"revocation seen by the other instance after {max(measured):.2f}s (worst of 2)")


def test_a_budget_is_one_budget_across_instances(scaled: Stack):
    budget = 0.002
    key = new_key(scaled, budget=budget)
    urls = instances(scaled)
    served = {url: 0 for url in urls}
    refused_on = None
    for n in range(400):
        url = urls[n % 2]
        status = call(url, key)
        if status != 200:
            assert status == 422, status  # LiteLLM's "budget_exceeded"
            refused_on = url
            break
        served[url] += 1
    assert refused_on is not None, "the budget was never enforced"
    assert all(served.values()), served
    # The other instance refuses too, once the spend it sees catches up.
    other = next(u for u in urls if u != refused_on)
    started = time.monotonic()
    while call(other, key) == 200:
        served[other] += 1
        assert time.monotonic() - started < REVOCATION_BOUND_S, "the other instance kept serving"
    proxy = SimpleNamespace(
        database_url=load_state(scaled.root / ".benchctl").proxies()[0].database_url
    )
    wait_for_rows(proxy, {hash_key(key)}, sum(served.values()))
    with psycopg.connect(proxy.database_url) as conn:
        (spent,) = conn.execute(
            'SELECT sum(spend) FROM "LiteLLM_SpendLogs" WHERE api_key = %s', (hash_key(key),)
        ).fetchone()
    # Budgets per instance would have let about twice the budget through. (LiteLLM's counter,
    # which it enforces, may run a call ahead of the spend-log rows.)
    assert 0.75 * budget <= spent < 1.5 * budget, (spent, served)


def test_collect_gets_every_request_of_every_instance_once(scaled: Stack):
    for task in (TASK, "slugify-tests"):
        added = scaled.run("session", "add", "demo", FAST, task, timeout=120)
        assert added.returncode == 0, added.stderr
    applied = scaled.run("apply", "--auto-approve", timeout=180)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    settings = Settings.from_env(scaled.root)
    database_url = scaled.env["BENCHCTL_DATABASE_URL"]
    with psycopg.connect(database_url) as conn:
        sessions = conn.execute(
            "SELECT id::text, key_hash, key_alias FROM sessions WHERE status = 'open'"
        ).fetchall()
    assert len(sessions) == 2
    sent = 0
    for sid, key_hash, _ in sessions:
        env_file = scaled.root / ".benchctl" / "sessions" / f"{sid}.env"
        assert settings.session_proxy_url(sid) in env_file.read_text()
        key = key_from_file(env_file, key_hash)
        assert key is not None
        for url in instances(scaled):  # each session's traffic on both, to prove the join
            for _ in range(3):
                assert call(url, key) == 200
                sent += 1
    proxy = SimpleNamespace(database_url=settings.litellm_database_url)
    wait_for_rows(proxy, {h for _, h, _ in sessions}, sent)
    _wait_for_scrapes(settings.prometheus_url, [a for _, _, a in sessions], sent)

    first = json.loads(scaled.run("collect", "--json", timeout=180).stdout)
    again = json.loads(scaled.run("collect", "--json", timeout=180).stdout)
    assert (first["new"], again["new"]) == (sent, 0)
    with psycopg.connect(database_url) as conn:
        (rows, ids) = conn.execute(
            "SELECT count(*), count(DISTINCT request_id) FROM requests"
            " WHERE session_id = ANY(%s::uuid[])",
            ([sid for sid, _, _ in sessions],),
        ).fetchone()
        counts = conn.execute(
            "SELECT sum(value) FROM prometheus_samples"
            " WHERE metric = 'litellm_request_total_latency_metric_count' AND key_alias = ANY(%s)",
            ([a for _, _, a in sessions],),
        ).fetchone()
    assert rows == ids == sent
    assert counts == (sent,)  # both instances' histograms, summed per session


def _wait_for_scrapes(url: str | None, aliases: list[str], sent: int) -> None:
    """Until Prometheus has scraped every call from both instances' /metrics/."""
    if url is None:
        pytest.skip("prometheus is not installed")
    targets = httpx.get(f"{url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    assert len(targets) == 2
    promql = (
        f'sum(litellm_request_total_latency_metric_count{{api_key_alias=~"{"|".join(aliases)}"}})'
    )
    deadline = time.monotonic() + SCRAPE_WAIT_S
    per_instance = (
        "count(sum by (instance) (litellm_request_total_latency_metric_count{api_key_alias=~"
        f'"{"|".join(aliases)}"}}))'
    )
    while time.monotonic() < deadline:
        total = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()
        spread = httpx.get(f"{url}/api/v1/query", params={"query": per_instance}, timeout=5)
        result, where = total["data"]["result"], spread.json()["data"]["result"]
        if result and float(result[0]["value"][1]) == sent and where:
            assert float(where[0]["value"][1]) == 2  # series from both instances
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus did not scrape {sent} calls from both instances")


def _clone(origin: Path, where: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", str(origin), str(where)], check=True)
    return where


def test_two_runners_on_two_hosts_share_a_grid(scaled: Stack, postgres_server: str, tmp_path: Path):
    origin = only_experiment(
        copy_manifests(tmp_path / "origin"),
        "spread",
        grid("spread", [FAST], [TASK, "wordfreq-shell"], 3, max_attempts=1),
    )
    git = ["git", "-C", str(origin), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "--quiet"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "grid"], check=True)
    key = master_key(scaled.root / ".benchctl", create=False)
    assert key is not None
    with fresh_database(postgres_server) as database_url:
        # Each host: a clone of its own, one proxy instance, and the shared database.
        hosts = [
            (
                _clone(origin, tmp_path / f"host{n}"),
                {
                    "BENCHCTL_DATABASE_URL": database_url,
                    "BENCHCTL_PROXY_URL": url,
                    "BENCHCTL_PROXY_MASTER_KEY": key,
                    "BENCHCTL_OPERATOR": f"runner{n}@example.org",
                },
            )
            for n, url in enumerate(instances(scaled), start=1)
        ]
        opened = cli(*hosts[0], "apply", "--auto-approve")
        assert opened.returncode == 0, opened.stdout + opened.stderr
        runners = [popen(root, env, "run", "spread", "--json") for root, env in hosts]
        summaries = []
        for runner in runners:
            out, err = runner.communicate(timeout=600)
            assert runner.returncode == 0, err
            summaries.append(json.loads(out))
        assert all(s["attempts"] for s in summaries), "one runner got no session"
        assert sum(s["scored"] for s in summaries) == 6

        with psycopg.connect(database_url) as conn:
            attempts = conn.execute(
                "SELECT session_id, count(*), count(DISTINCT runner), bool_and(log <> '')"
                " FROM run_attempts GROUP BY session_id"
            ).fetchall()
            (runners_seen,) = conn.execute(
                "SELECT count(DISTINCT split_part(runner, ':', 2)) FROM run_attempts"
            ).fetchone()
            verified = conn.execute(
                "SELECT count(*) FROM sessions s JOIN verifications v"
                " ON v.id = s.verification_id WHERE s.status = 'finalized' AND v.log IS NOT NULL"
            ).fetchone()
        assert len(attempts) == 6
        assert all(n == 1 and runners == 1 and logged for _, n, runners, logged in attempts)
        assert runners_seen == 2  # two runner processes, one attempt per session between them
        assert verified == (6,)
        # Neither host's disk is needed to read the results: a report made from a third clone.
        third = _clone(origin, tmp_path / "reader")
        reader = {"BENCHCTL_DATABASE_URL": database_url}
        reported = cli(third, reader, "report", "spread", "--out", str(tmp_path / "out"))
        assert reported.returncode == 0, reported.stdout + reported.stderr
        assert "6" in (tmp_path / "out" / "spread" / "README.md").read_text()


def test_scaling_back_to_one_instance_stops_the_others_and_redis(scaled: Stack):
    """Last in the module: it takes the stack down to one instance."""
    done = scaled.up("--proxies", "1", "--restart-proxy")
    assert done.returncode == 0, done.stderr
    status = scaled.status()
    names = [part["name"] for part in status["parts"]]
    assert "proxy" in names and "proxy-2" not in names and "redis" not in names
    assert status["healthy"] is True
    config = (scaled.root / ".benchctl" / "stack" / "litellm.yaml").read_text()
    assert "coordination_redis" not in config
    assert Settings.from_env(scaled.root).session_proxy_urls == ()
