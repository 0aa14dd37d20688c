"""Kill tests for `benchctl run`: SIGKILL a runner anywhere and the next run converges — every
session finalized once, every attempt recorded, no key left on the proxy, no workspace or
harness left behind, and each request the proxy logged collected exactly once (an abandoned
attempt's calls never count in the session). Two runners on one database share a grid without
running a session twice. Real PostgreSQL, the real LiteLLM proxy, the SDK harness."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import psycopg
import pytest

from benchctl.reconcile.desired import alias_prefix

from proxy_stack import session_env
from runs_support import cli, grid, only_experiment, popen

LEASE = "3"
# Failpoints of the runner's own steps, in order (see benchctl/reconcile/failpoints.py).
POINTS = [
    "run.leased",  # before the workspace and setup
    "run.set_up",  # setup done, no key yet
    "run.key_created",  # the attempt's key exists, unrecorded
    "run.harness_done",  # the harness ran and spent
    "run.verified",  # verification recorded, session still open
    "end.marked",  # finalizing, key still there
    "end.key_deleted",  # key gone, session not yet finalized
    "run.finished",  # between sessions
]


@pytest.fixture
def repo(example_repo):
    return only_experiment(
        example_repo, "grid", grid("grid", ["sdk-sim-fast"], ["fix-median"], 2, max_attempts=3)
    )


def _logged_rows(proxy, database_url: str, prefix: str) -> int:
    """LiteLLM writes spend logs in batches, with seconds of jitter: wait until every scored
    attempt's calls (its harness prints how many it sent) are in, then until nothing changes."""
    with psycopg.connect(database_url) as conn:
        expected = {
            key_hash: int(m.group(1))
            for key_hash, log in conn.execute(
                "SELECT key_hash, log FROM run_attempts WHERE status = 'done'"
            )
            if (m := re.search(r"^requests sent: (\d+)$", log, re.M))
        }
    last, same_since = -1, time.monotonic()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with psycopg.connect(proxy.database_url) as conn:
            per_key = dict(
                conn.execute(
                    'SELECT api_key, count(*) FROM "LiteLLM_SpendLogs"'
                    " WHERE metadata->>'user_api_key_alias' LIKE %s GROUP BY api_key",
                    (prefix + "%",),
                ).fetchall()
            )
        count = sum(per_key.values())
        if count != last:
            last, same_since = count, time.monotonic()
        complete = all(per_key.get(k, 0) >= n for k, n in expected.items())
        if complete and time.monotonic() - same_since > 2:
            return count
        time.sleep(0.5)
    raise AssertionError(f"LiteLLM's spend logs did not settle in 60 s: {per_key} {expected}")


def assert_converged(
    repo: Path, env: dict[str, str], proxy, database_url: str, sessions: int
) -> None:
    with psycopg.connect(database_url) as conn:
        (lineage,) = conn.execute("SELECT lineage::text FROM state_meta").fetchone()
        rows = conn.execute(
            "SELECT s.status, s.outcome_source, s.verification_id IS NOT NULL,"
            " count(a.id) FILTER (WHERE a.status = 'done'),"
            " count(a.id) FILTER (WHERE a.status = 'running')"
            " FROM sessions s LEFT JOIN run_attempts a ON a.session_id = s.id GROUP BY s.id"
        ).fetchall()
    # Finalized once, from one attempt that counts; the others are recorded as lapsed.
    assert rows == [("finalized", "verified", True, 1, 0)] * sessions, rows
    prefix = alias_prefix(lineage)
    with proxy.client() as client:
        assert client.list_keys(alias_prefix=prefix) == [], "a key outlived its session"
    assert not list((repo / ".benchctl" / "sessions").glob("*.env"))
    assert not list((repo / ".benchctl" / "runs").iterdir())

    logged = _logged_rows(proxy, database_url, prefix)
    for _ in range(2):  # collecting again changes nothing
        done = cli(repo, env, "collect")
        assert done.returncode == 0, done.stdout + done.stderr
        with psycopg.connect(database_url) as conn:
            counted = conn.execute(
                "SELECT a.status, count(DISTINCT r.request_id), count(DISTINCT u.request_id)"
                " FROM run_attempts a"
                " LEFT JOIN requests r ON r.key_hash = a.key_hash AND r.session_id = a.session_id"
                " LEFT JOIN unattributed_requests u ON u.key_hash = a.key_hash"
                "   AND u.reason LIKE 'made by an abandoned attempt%%'"
                " WHERE a.key_hash IS NOT NULL GROUP BY a.id, a.status"
            ).fetchall()
            (total,) = conn.execute(
                "SELECT (SELECT count(*) FROM requests) + (SELECT count(*) FROM"
                " unattributed_requests)"
            ).fetchone()
        assert total == logged, (total, logged)
        for status, scored, abandoned in counted:
            # The scored attempt's calls are the session's; an abandoned one's are nobody's.
            assert (scored > 0, abandoned) == (True, 0) if status == "done" else scored == 0


@pytest.mark.parametrize("point", POINTS)
def test_a_runner_killed_anywhere_converges_on_the_next_run(
    point, repo, litellm_proxy, database_url
):
    env = session_env(litellm_proxy, database_url)
    opened = cli(repo, env, "apply", "--auto-approve")
    assert opened.returncode == 0, opened.stdout + opened.stderr

    killed = cli(repo, env | {"BENCHCTL_FAILPOINT": point}, "run", "grid", "--lease", LEASE)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    # What the killed runner spent is collected while its attempt still looks alive.
    assert cli(repo, env, "collect").returncode == 0
    time.sleep(float(LEASE) + 0.5)

    again = cli(repo, env, "run", "grid", "--lease", LEASE)
    assert again.returncode == 0, again.stdout + again.stderr
    assert_converged(repo, env, litellm_proxy, database_url, sessions=2)
    with psycopg.connect(database_url) as conn:
        statuses = sorted(s for (s,) in conn.execute("SELECT status FROM run_attempts"))
    # Killed after it ended its first session, or while ending it, the runner had done it.
    finished_first = point in ("end.marked", "end.key_deleted", "run.finished")
    assert statuses == (["done", "done"] if finished_first else ["done", "done", "lapsed"])


WAITING_PROFILE = """\
apiVersion: benchctl/v1
kind: HarnessProfile
metadata: {{name: sdk-then-wait}}
spec:
  harness: the SDK script, then a long wait the first time
  protocol: openai-chat
  env:
    OPENAI_BASE_URL: "{{{{ proxy.url }}}}/v1"
    OPENAI_API_KEY: "{{{{ session.key }}}}"
    BENCHCTL_MODEL: "{{{{ variant.model_alias }}}}"
    BENCHCTL_STREAM: "true"
    BENCHCTL_MAX_TURNS: "4"
    TASK_PROMPT: "{{{{ task_card.instructions }}}}"
  launch: >-
    python -m benchctl.demo.harness "$TASK_PROMPT" &&
    if mkdir {flag} 2>/dev/null; then touch .harness-called; exec sleep 600; fi
"""

# The test proxy serves the example variants' aliases: this one gets the waiting harness.
WAITING_VARIANT = """\
apiVersion: benchctl/v1
kind: Variant
metadata: {name: sdk-sim-balanced}
spec: {provider: sim, model: sim-balanced, harness_profile: sdk-then-wait}
"""


def _processes_in(folder: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "cwd").startswith(str(folder)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_runner_killed_while_its_harness_works_leaves_no_orphan(
    example_repo, tmp_path, litellm_proxy, database_url
):
    repo = only_experiment(
        example_repo, "grid", grid("grid", ["sdk-sim-balanced"], ["fix-median"], 1, max_attempts=2)
    )
    (repo / "harness_profiles" / "sdk-then-wait.yaml").write_text(
        WAITING_PROFILE.format(flag=tmp_path / "waited")
    )
    (repo / "variants" / "sdk-sim-balanced.yaml").write_text(WAITING_VARIANT)
    env = session_env(litellm_proxy, database_url)
    opened = cli(repo, env, "apply", "--auto-approve")
    assert opened.returncode == 0, opened.stdout + opened.stderr

    # Unsandboxed: bubblewrap would take the harness down with the runner by itself.
    runner = popen(repo, env, "run", "grid", "--lease", LEASE, "--sandbox", "none")
    runs = repo / ".benchctl" / "runs"
    deadline = time.monotonic() + 120
    while not list(runs.glob("*/workspace/.harness-called")):
        if time.monotonic() > deadline or runner.poll() is not None:
            with psycopg.connect(database_url) as conn:
                logs = conn.execute("SELECT log FROM run_attempts").fetchall()
            raise AssertionError(f"the harness never got to wait: {runner.communicate()} {logs}")
        time.sleep(0.2)
    runner.kill()
    runner.communicate()
    (scratch,) = runs.iterdir()
    assert _processes_in(scratch), "the harness should outlive its SIGKILLed runner"
    with psycopg.connect(database_url) as conn:
        (key_hash,) = conn.execute("SELECT key_hash FROM run_attempts").fetchone()
    # The killed attempt's calls, collected while it still held its lease, are the session's
    # (once LiteLLM's batch writer has them).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with psycopg.connect(litellm_proxy.database_url) as conn:
            (written,) = conn.execute(
                'SELECT count(*) FROM "LiteLLM_SpendLogs" WHERE api_key = %s', (key_hash,)
            ).fetchone()
        if written:
            break
        time.sleep(0.3)
    assert cli(repo, env, "collect").returncode == 0
    with psycopg.connect(database_url) as conn:
        (early,) = conn.execute("SELECT count(*) FROM requests").fetchone()
    time.sleep(float(LEASE) + 0.5)

    again = cli(repo, env, "run", "grid", "--lease", LEASE, "--sandbox", "none")
    assert again.returncode == 0, again.stdout + again.stderr
    assert not _processes_in(scratch), "the next run reaps what a killed runner left running"
    assert_converged(repo, env, litellm_proxy, database_url, sessions=1)
    with psycopg.connect(database_url) as conn:
        moved = conn.execute(
            "SELECT count(*) FROM unattributed_requests WHERE key_hash = %s", (key_hash,)
        ).fetchone()[0]
        attempts = conn.execute("SELECT attempt, status FROM run_attempts ORDER BY 1").fetchall()
    assert attempts == [(1, "lapsed"), (2, "done")]
    assert moved >= early > 0, "calls collected under the abandoned attempt left the session"


def test_a_session_out_of_attempts_is_aborted_with_its_key(repo, litellm_proxy, database_url):
    only_experiment(repo, "grid", grid("grid", ["sdk-sim-fast"], ["fix-median"], 1, max_attempts=1))
    env = session_env(litellm_proxy, database_url)
    assert cli(repo, env, "apply", "--auto-approve").returncode == 0
    killed = cli(
        repo, env | {"BENCHCTL_FAILPOINT": "run.harness_done"}, "run", "grid", "--lease", LEASE
    )
    assert killed.returncode == -signal.SIGKILL
    time.sleep(float(LEASE) + 0.5)

    again = cli(repo, env, "run", "grid", "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "out of attempts, aborted" in again.stderr
    with psycopg.connect(database_url) as conn:
        (lineage,) = conn.execute("SELECT lineage::text FROM state_meta").fetchone()
        status, notes = conn.execute("SELECT status, notes FROM sessions").fetchone()
    assert status == "aborted"
    assert "1 attempt(s) failed on infrastructure" in notes and "lease lapsed" in notes
    with litellm_proxy.client() as client:
        assert client.list_keys(alias_prefix=alias_prefix(lineage)) == []
    # Aborted by the runner, the grid asks for nothing more.
    assert cli(repo, env, "plan", "--detailed-exitcode").returncode == 0
    # The report counts it as attrition, not as the agent's failure.
    assert cli(repo, env, "collect").returncode == 0
    written = cli(repo, env, "report", "grid", "--out", str(repo / "reports"))
    assert written.returncode == 0, written.stdout + written.stderr
    report = json.loads((repo / "reports" / "grid" / "report.json").read_text())
    assert report["attrition"] == [
        {"variant": "sdk-sim-fast", "sessions": 1, "attempts": 1, "infrastructure_failures": 1,
         "aborted": 1, "timed_out": 0, "unscored": 0, "pending": 0}
    ]  # fmt: skip
    assert "## Attrition" in (repo / "reports" / "grid" / "README.md").read_text()


def test_two_runners_share_a_grid_without_running_a_session_twice(
    example_repo, litellm_proxy, database_url
):
    repo = only_experiment(
        example_repo,
        "grid",
        grid("grid", ["sdk-sim-fast"], ["fix-median", "wordfreq-shell"], 3, max_attempts=2),
    )
    env = session_env(litellm_proxy, database_url)
    assert cli(repo, env, "apply", "--auto-approve").returncode == 0
    runners = [popen(repo, env, "run", "grid", "-j", "2", "--lease", LEASE) for _ in range(2)]
    for runner in runners:
        out, err = runner.communicate(timeout=600)
        assert runner.returncode == 0, out + err
    with psycopg.connect(database_url) as conn:
        per_session = conn.execute(
            "SELECT count(*), min(status), max(status) FROM run_attempts GROUP BY session_id"
        ).fetchall()
        runner_names = {r for (r,) in conn.execute("SELECT DISTINCT runner FROM run_attempts")}
    assert sorted(per_session) == [(1, "done", "done")] * 6
    assert len(runner_names) >= 2  # -j 2 in each: several workers took part
    assert_converged(repo, env, litellm_proxy, database_url, sessions=6)
