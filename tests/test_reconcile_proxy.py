"""Sessions against the real LiteLLM proxy: keys really issued, scoped, revoked, repaired."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest

from benchctl.litellm.client import hash_key
from benchctl.reconcile.desired import KEY_ALIAS_PREFIX, key_alias
from benchctl.reconcile.envfile import key_from_file

from proxy_stack import session_env

FAST, BALANCED, TASK = "sdk-sim-fast", "sdk-sim-balanced", "fix-median"


@pytest.fixture
def repo(example_repo):
    return example_repo


@pytest.fixture
def proxy(litellm_proxy):
    return litellm_proxy


@pytest.fixture
def env(proxy, database_url):
    return session_env(proxy, database_url)


def cli(repo: Path, env: dict[str, str], *args: str, failpoint: str | None = None):
    """benchctl in its own process, so a failpoint can really kill it."""
    full = {**os.environ, **env}
    full.pop("BENCHCTL_FAILPOINT", None)
    if failpoint:
        full["BENCHCTL_FAILPOINT"] = failpoint
    return subprocess.run(
        [sys.executable, "-m", "benchctl", *args, "--root", str(repo)],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


def chat(proxy, key: str, model: str) -> httpx.Response:
    return httpx.post(
        f"{proxy.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5},
        timeout=60,
    )


def accepted(response: httpx.Response) -> bool:
    """The proxy let the key through; the simulated model may still fail the call on purpose."""
    return response.status_code not in (400, 401, 403, 422)


def sessions(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT id::text, status, key_hash, outcome FROM sessions ORDER BY id"
        ).fetchall()


def live_keys(proxy) -> list:
    with proxy.client() as client:
        return client.list_keys(alias_prefix=KEY_ALIAS_PREFIX)


def alias(database_url: str, sid: str) -> str:
    with psycopg.connect(database_url) as conn:
        (lineage,) = conn.execute("SELECT lineage::text FROM state_meta").fetchone()
    return key_alias(sid, lineage)


def add_and_apply(repo, env, variant=FAST, task=TASK) -> str:
    added = cli(repo, env, "session", "add", "demo", variant, task)
    assert added.returncode == 0, added.stderr
    done = cli(repo, env, "apply", "--auto-approve")
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def open_session_id(database_url: str) -> str:
    (sid,) = [s[0] for s in sessions(database_url) if s[1] == "open"]
    return sid


def env_file(repo: Path, sid: str) -> Path:
    return repo / ".benchctl" / "sessions" / f"{sid}.env"


def test_session_opens_with_a_scoped_key_and_finalizes(repo, env, proxy, database_url):
    before = (repo / "experiments" / "demo.yaml").read_text()
    added = cli(repo, env, "session", "add", "demo", FAST, TASK)
    assert added.returncode == 0, added.stderr
    after = (repo / "experiments" / "demo.yaml").read_text()
    # Round-trip edit: every comment line survives, the entry is appended as a block.
    assert [line for line in before.splitlines() if line.strip().startswith("#")] == [
        line for line in after.splitlines() if line.strip().startswith("#")
    ]
    assert (
        f"    - variant: {FAST}\n      task_card: {TASK}\n      replicate: 1\n      status: open\n"
        in after
    )

    plan = cli(repo, env, "plan")
    assert "Plan: 31 to add, 0 to change, 0 to retire; 1 session to open." in plan.stdout, plan
    done = cli(repo, env, "apply", "--auto-approve")
    assert done.returncode == 0, done.stderr
    sid = open_session_id(database_url)
    path = env_file(repo, sid)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (row,) = sessions(database_url)
    key = key_from_file(path, row[2])
    assert key is not None and hash_key(key) == row[2]
    assert key not in done.stdout + done.stderr
    assert f"source {path}" in done.stdout

    (info,) = live_keys(proxy)
    assert info.key_alias == alias(database_url, sid)
    assert info.models == (FAST,)
    assert info.max_budget == 10  # experiments/demo.yaml session_policy.budget_usd
    assert info.metadata["benchctl"]["session_id"] == sid
    assert f"session:{sid}" in info.metadata["tags"]
    assert accepted(chat(proxy, key, FAST))
    assert chat(proxy, key, BALANCED).status_code in (401, 403)

    snippet = cli(repo, env, "session", "env", sid[:8])
    assert snippet.returncode == 0 and f"OPENAI_API_KEY={key}" in snippet.stdout
    listed = cli(repo, env, "session", "list")
    assert sid[:8] in listed.stdout and "open" in listed.stdout
    assert cli(repo, env, "plan", "--detailed-exitcode").returncode == 0

    ended = cli(repo, env, "session", "finalize", sid[:8], "--outcome", "success")
    assert ended.returncode == 0, ended.stderr
    plan = cli(repo, env, "plan", "--detailed-exitcode")
    assert plan.returncode == 2 and "0 sessions to open, 1 to finalize." in plan.stdout
    assert cli(repo, env, "apply", "--auto-approve").returncode == 0
    assert sessions(database_url) == [(sid, "finalized", row[2], "success")]
    assert not path.exists()
    assert chat(proxy, key, FAST).status_code == 401
    assert live_keys(proxy) == []
    gone = cli(repo, env, "session", "env", sid[:8])
    assert gone.returncode != 0 and "finalized" in gone.stderr


@pytest.mark.parametrize("drift", ["delete", "block"])
def test_key_drift_is_planned_and_repaired(repo, env, proxy, database_url, drift):
    add_and_apply(repo, env)
    sid = open_session_id(database_url)
    old = key_from_file(env_file(repo, sid), sessions(database_url)[0][2])
    with proxy.client() as client:
        if drift == "delete":
            client.delete_keys(aliases=[alias(database_url, sid)])
        else:
            client.block_key(hash_key(old))
    plan = cli(repo, env, "plan", "--detailed-exitcode")
    assert plan.returncode == 2
    word = "deleted" if drift == "delete" else "blocked"
    assert f"its key was {word} outside benchctl" in plan.stdout
    assert "; 1 drift repair." in plan.stdout
    assert cli(repo, env, "apply", "--auto-approve").returncode == 0
    new = key_from_file(env_file(repo, sid), sessions(database_url)[0][2])
    assert new and new != old
    assert accepted(chat(proxy, new, FAST))
    assert len(live_keys(proxy)) == 1
    assert cli(repo, env, "plan", "--detailed-exitcode").returncode == 0


def test_orphan_key_is_deleted(repo, env, proxy, database_url):
    with proxy.client() as client:
        client.generate_key(
            alias=alias(database_url, "orphan"), models=[FAST], duration_seconds=600,
            max_budget=1, metadata={},
        )  # fmt: skip
    plan = cli(repo, env, "plan")
    assert f"delete orphan key {alias(database_url, 'orphan')}" in plan.stdout
    with proxy.client() as client:
        # Another benchmark database sharing this proxy: its keys are not our orphans.
        client.generate_key(
            alias=key_alias("theirs", "0therdb0"), models=[FAST], duration_seconds=600,
            max_budget=1, metadata={},
        )  # fmt: skip
    assert cli(repo, env, "apply", "--auto-approve").returncode == 0
    assert [k.key_alias for k in live_keys(proxy)] == [key_alias("theirs", "0therdb0")]


def test_rotate_replaces_the_key(repo, env, proxy, database_url):
    add_and_apply(repo, env)
    sid = open_session_id(database_url)
    old = key_from_file(env_file(repo, sid), sessions(database_url)[0][2])
    rotated = cli(repo, env, "session", "rotate", sid[:8])
    assert rotated.returncode == 0, rotated.stderr
    new = key_from_file(env_file(repo, sid), sessions(database_url)[0][2])
    assert new and new != old
    assert chat(proxy, old, FAST).status_code == 401
    assert accepted(chat(proxy, new, FAST))
    env_file(repo, sid).unlink()
    lost = cli(repo, env, "session", "env", sid[:8])
    assert lost.returncode == 2 and f"benchctl session rotate {sid[:8]}" in lost.stderr


OPEN_POINTS = [
    "apply.started",
    "objects.applied",
    "open.row_inserted",
    "open.old_key_deleted",
    "open.key_created",
    "open.env_written",
    "open.recorded",
]
END_POINTS = ["end.marked", "end.key_deleted", "end.recorded"]


def assert_converged(repo, env, proxy, database_url) -> None:
    again = cli(repo, env, "apply", "--auto-approve")
    assert again.returncode == 0, again.stdout + again.stderr
    assert cli(repo, env, "plan", "--detailed-exitcode").returncode == 0
    rows = sessions(database_url)
    assert len({r[0] for r in rows}) == len(rows)  # no duplicate session
    open_rows = [r for r in rows if r[1] == "open"]
    keys = live_keys(proxy)
    assert len(keys) == len(open_rows)  # no orphan key
    for sid, _, key_hash, _ in open_rows:
        key = key_from_file(env_file(repo, sid), key_hash)
        assert key is not None
        assert accepted(chat(proxy, key, FAST))


@pytest.mark.parametrize("point", OPEN_POINTS)
def test_killed_while_opening_converges(repo, env, proxy, database_url, point):
    assert cli(repo, env, "session", "add", "demo", FAST, TASK).returncode == 0
    killed = cli(repo, env, "apply", "--auto-approve", failpoint=point)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    plan = cli(repo, env, "plan")
    # The next plan shows exactly what remains: nothing once the key is recorded.
    remains = "No changes." if point == "open.recorded" else "1 session to open"
    assert remains in plan.stdout, plan.stdout
    assert_converged(repo, env, proxy, database_url)
    assert [r[1] for r in sessions(database_url)] == ["open"]


@pytest.mark.parametrize("point", END_POINTS)
def test_killed_while_finalizing_converges(repo, env, proxy, database_url, point):
    add_and_apply(repo, env)
    sid = open_session_id(database_url)
    cli(repo, env, "session", "finalize", sid[:8], "--outcome", "partial")
    killed = cli(repo, env, "apply", "--auto-approve", failpoint=point)
    assert killed.returncode == -9
    if point != "end.recorded":
        assert "1 to finalize" in cli(repo, env, "plan").stdout
    assert_converged(repo, env, proxy, database_url)
    assert [r[1] for r in sessions(database_url)] == ["finalized"]


@pytest.mark.parametrize(
    "point", ["rekey.forgotten", "rekey.old_key_deleted", "rekey.key_created", "rekey.env_written"]
)
def test_killed_while_rekeying_converges(repo, env, proxy, database_url, point):
    add_and_apply(repo, env)
    sid = open_session_id(database_url)
    with proxy.client() as client:
        client.delete_keys(aliases=[alias(database_url, sid)])
    assert cli(repo, env, "apply", "--auto-approve", failpoint=point).returncode == -9
    assert "1 drift repair" in cli(repo, env, "plan").stdout
    assert_converged(repo, env, proxy, database_url)


def test_two_applies_at_once_leave_one_set_of_sessions(repo, env, proxy, database_url):
    for task in ("fix-median", "slugify-tests"):
        assert cli(repo, env, "session", "add", "demo", FAST, task).returncode == 0
    assert cli(repo, env, "db", "upgrade").returncode == 0
    base = {**os.environ, **env}
    command = [sys.executable, "-m", "benchctl", "apply", "--auto-approve", "--root", str(repo)]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    waiting = [
        subprocess.Popen([*command, "--lock-timeout", "2m"], env=base, **pipes) for _ in range(2)
    ]
    results = [(p.wait(120), *p.communicate()) for p in waiting]
    assert [r[0] for r in results] == [0, 0], results
    # One did the work; the other waited for the lock, then found nothing left to do.
    assert sorted("No changes." in r[1] for r in results) == [False, True]
    assert len(sessions(database_url)) == 2
    assert len(live_keys(proxy)) == 2


def test_comparability_change_after_sessions_makes_a_new_version(repo, env, proxy, database_url):
    add_and_apply(repo, env)
    sid = open_session_id(database_url)
    cli(repo, env, "session", "finalize", sid[:8], "--outcome", "success")
    assert cli(repo, env, "apply", "--auto-approve").returncode == 0
    variant = repo / "variants" / f"{FAST}.yaml"
    variant.write_text(variant.read_text().replace("temperature: 0", "temperature: 0.3"))
    plan = cli(repo, env, "plan")
    assert f"-/+ Variant {FAST} v2" in plan.stdout
    assert "forces a new version: spec.request.temperature" in plan.stdout
    add_and_apply(repo, env)
    with psycopg.connect(database_url) as conn:
        versions = conn.execute(
            "SELECT version, retired_at IS NOT NULL FROM variants WHERE name = %s ORDER BY 1",
            (FAST,),
        ).fetchall()
        assert versions == [(1, True), (2, False)]
        used = conn.execute(
            "SELECT replicate, variant_version FROM sessions ORDER BY replicate"
        ).fetchall()
        assert used == [(1, 1), (2, 2)]
