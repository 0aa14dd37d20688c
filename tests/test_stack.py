"""`benchctl up` / `down` / `status` for real: processes, ports, health, identities.

The CLI runs as a subprocess, as a user's shell would run it, so that the parts it starts are
detached from pytest exactly as they are from a terminal. Each test copies the example
manifests into a folder of its own (0755: as root, pgserver runs PostgreSQL as another user),
uses free ports, and stops whatever it started.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from benchctl.settings import Settings
from benchctl.stack import processes
from benchctl.stack.state import load_state, master_key, state_path

from conftest import REPO_ROOT
from proxy_stack import free_port, offline_kit, unavailable

MANIFEST_FOLDERS = ("providers", "harness_profiles", "variants", "task_cards", "experiments")
UP_TIMEOUT_S = 300


def copy_manifests() -> Path:
    root = Path(tempfile.mkdtemp(prefix="benchctl-stack-"))
    root.chmod(0o755)
    for folder in (*MANIFEST_FOLDERS, "tasks"):
        shutil.copytree(REPO_ROOT / folder, root / folder)
    return root


@dataclass
class Stack:
    root: Path
    env: dict[str, str]
    ports: dict[str, int]

    def run(
        self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = UP_TIMEOUT_S
    ):
        env = {**self.env, **(extra_env or {})}
        return subprocess.run(
            [sys.executable, "-m", "benchctl", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def up(self, *args: str, extra_env: dict[str, str] | None = None):
        return self.run(
            "up",
            "--proxy-port",
            str(self.ports["proxy"]),
            "--prometheus-port",
            str(self.ports["prometheus"]),
            "--sim-port",
            str(self.ports["sim"]),
            "--sim-speed",
            "20",
            *args,
            extra_env=extra_env,
        )

    def pids(self) -> dict[str, int]:
        return {
            name: part.pid
            for name, part in load_state(self.root / ".benchctl").parts.items()
            if part.pid is not None
        }

    def status(self) -> dict:
        done = self.run("status", "--json", timeout=60)
        return json.loads(done.stdout)


def stack_env(database_url: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BENCHCTL_", "LITELLM_")) and k != "CI"
    }
    env["CI"] = os.environ.get("CI", "")
    kit = offline_kit()
    if kit is not None:
        env["BENCHCTL_LITELLM_PREPARE"] = str(kit / "setup.sh")
    if database_url is not None:
        env["BENCHCTL_DATABASE_URL"] = database_url
    return env


def make_stack(database_url: str | None) -> Stack:
    ports = {name: free_port() for name in ("proxy", "prometheus", "sim")}
    return Stack(root=copy_manifests(), env=stack_env(database_url), ports=ports)


def teardown(stack: Stack) -> None:
    stack.run("down", timeout=120)
    shutil.rmtree(stack.root, ignore_errors=True)


def require_litellm() -> None:
    if not (Path(sys.executable).parent / "litellm").exists():
        unavailable(f"needs the proxy extra: litellm is not installed in {sys.prefix}")


@pytest.fixture(scope="module")
def benchmark_database(postgres_server: str) -> Iterator[str]:
    name = f"bc_stack_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(postgres_server)
    info["dbname"] = name
    yield psycopg.conninfo.make_conninfo(**info)
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def stack(benchmark_database: str) -> Iterator[Stack]:
    """One stack for the module, on the test PostgreSQL (BENCHCTL_DATABASE_URL)."""
    require_litellm()
    running = make_stack(benchmark_database)
    try:
        done = running.up()
        if done.returncode != 0:
            unavailable(f"benchctl up failed:\n{done.stderr[-3000:]}")
        yield running
    finally:
        teardown(running)


def test_up_starts_every_part_healthy(stack: Stack):
    status = stack.status()
    names = [part["name"] for part in status["parts"]]
    expected = ["postgres", "sim", "proxy"]
    if shutil.which("prometheus"):
        expected.append("prometheus")
    assert names == expected
    assert status["healthy"] is True
    assert all(part["healthy"] for part in status["parts"])
    by_name = {part["name"]: part for part in status["parts"]}
    assert by_name["postgres"]["pid"] is None  # BENCHCTL_DATABASE_URL: not ours to run
    assert by_name["proxy"]["url"] == f"http://127.0.0.1:{stack.ports['proxy']}"
    assert by_name["sim"]["url"] == f"http://127.0.0.1:{stack.ports['sim']}/v1"


def test_master_key_is_private_and_never_printed(stack: Stack):
    key = master_key(stack.root / ".benchctl", create=False)
    assert key is not None and key.startswith("sk-")
    path = stack.root / ".benchctl" / "stack" / "master.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert state_path(stack.root / ".benchctl").stat().st_mode & 0o777 == 0o600
    for done in (stack.up(), stack.run("status"), stack.run("status", "--json")):
        assert key not in done.stdout + done.stderr
    config = (stack.root / ".benchctl" / "stack" / "litellm.yaml").read_text()
    assert key not in config


def test_up_again_is_a_noop(stack: Stack):
    before = stack.pids()
    started = time.monotonic()
    done = stack.up()
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 15
    assert stack.pids() == before
    assert "started" not in done.stdout
    assert "proxy" in done.stdout and "(running)" in done.stdout


def test_commands_find_the_stack_without_exports(stack: Stack):
    settings = Settings.from_env(stack.root)
    assert settings.proxy_url == f"http://127.0.0.1:{stack.ports['proxy']}"
    assert settings.proxy_master_key == master_key(stack.root / ".benchctl", create=False)
    # LiteLLM's own database `litellm`, beside the benchmark database on the same server.
    assert "/litellm" in (settings.litellm_database_url or "")
    if shutil.which("prometheus"):
        assert settings.prometheus_url == f"http://127.0.0.1:{stack.ports['prometheus']}"
    assert stack.run("db", "upgrade", timeout=120).returncode == 0
    done = stack.run("plan", "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["keys_checked"] is True  # it reached the proxy with the stack's key
    assert plan["config_drift"] is None


def test_env_vars_win_over_the_stack(stack: Stack, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BENCHCTL_PROXY_URL", "http://127.0.0.1:1")
    monkeypatch.delenv("BENCHCTL_PROXY_MASTER_KEY", raising=False)
    monkeypatch.delenv("LITELLM_MASTER_KEY", raising=False)
    settings = Settings.from_env(stack.root)
    assert settings.proxy_url == "http://127.0.0.1:1"
    # The stack's key is not handed to a proxy the environment names.
    assert settings.proxy_master_key is None


def test_prometheus_scrapes_the_proxy(stack: Stack):
    if not shutil.which("prometheus"):
        pytest.skip("prometheus is not installed")
    url = f"http://127.0.0.1:{stack.ports['prometheus']}/api/v1/targets"
    deadline = time.monotonic() + 30
    health = None
    while time.monotonic() < deadline:
        targets = httpx.get(url, timeout=5).json()["data"]["activeTargets"]
        health = targets[0]["health"] if targets else None
        if health == "up":
            break
        time.sleep(1)
    assert health == "up", targets
    assert targets[0]["scrapeUrl"] == f"http://127.0.0.1:{stack.ports['proxy']}/metrics/"


def test_config_drift_is_shown_until_the_proxy_restarts(stack: Stack):
    variant = stack.root / "variants" / "sdk-sim-fast.yaml"
    original = variant.read_text()
    try:
        variant.write_text(original.replace("temperature: 0", "temperature: 0.5"))
        changed = stack.run("plan", timeout=120)
        assert changed.returncode == 0, changed.stderr
        assert "sdk-sim-fast" in changed.stdout
        assert "benchctl up --restart-proxy" in changed.stdout
        noted = stack.up()
        assert "--restart-proxy" in noted.stdout
        before = stack.pids()
        restarted = stack.up("--restart-proxy")
        assert restarted.returncode == 0, restarted.stderr
        after = stack.pids()
        assert after["proxy"] != before["proxy"]
        assert {k: v for k, v in after.items() if k != "proxy"} == {
            k: v for k, v in before.items() if k != "proxy"
        }
        plan = json.loads(stack.run("plan", "--json", timeout=120).stdout)
        assert plan["config_drift"] is None
    finally:
        # The proxy keeps the edited config: later tests do not depend on its models.
        variant.write_text(original)


def test_killed_proxy_restarts_alone(stack: Stack):
    before = stack.pids()
    proxy = before["proxy"]
    group = processes.group_members(proxy)
    os.kill(proxy, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while processes.alive(proxy) and time.monotonic() < deadline:
        time.sleep(0.1)
    down = {part["name"]: part for part in stack.status()["parts"]}
    assert down["proxy"]["healthy"] is False and down["proxy"]["running"] is False
    assert stack.run("status").returncode == 1

    done = stack.up()
    assert done.returncode == 0, done.stderr
    after = stack.pids()
    assert after["proxy"] != proxy
    assert {k: v for k, v in after.items() if k != "proxy"} == {
        k: v for k, v in before.items() if k != "proxy"
    }
    assert "(restarted)" in done.stdout
    # What the killed proxy left behind (its query-engine child) was stopped, not orphaned.
    assert [pid for pid in group if processes.alive(pid)] == []
    assert stack.status()["healthy"] is True


def test_port_taken_is_a_clear_error(postgres_server: str):
    require_litellm()
    other = make_stack(postgres_server)
    try:
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", other.ports["proxy"]))
            holder.listen()
            done = other.up()
        assert done.returncode != 0
        assert f"port {other.ports['proxy']} for proxy is in use" in done.stderr
        assert "--proxy-port" in done.stderr
        assert "Nothing was started" in done.stderr
        assert other.pids() == {}
    finally:
        teardown(other)


def test_failing_prepare_hook_names_its_log(postgres_server: str):
    require_litellm()
    other = make_stack(postgres_server)
    hook = other.root / "prepare.sh"
    hook.write_text("#!/bin/sh\necho 'cannot reach the npm registry' >&2\nexit 3\n")
    hook.chmod(0o755)
    try:
        done = other.up(extra_env={"BENCHCTL_LITELLM_PREPARE": str(hook)})
        assert done.returncode != 0
        assert "failed with exit code 3" in done.stderr
        assert "proxy-prepare.log" in done.stderr
        assert "cannot reach the npm registry" in done.stderr
    finally:
        teardown(other)


def test_proxy_that_dies_at_start_names_its_log_and_tail(postgres_server: str):
    require_litellm()
    other = make_stack(postgres_server)
    # The hook's exports reach the proxy's environment; this one stops Python from starting.
    hook = other.root / "prepare.sh"
    hook.write_text("#!/bin/sh\necho \"export PYTHONHOME='/nonexistent'\"\n")
    hook.chmod(0o755)
    try:
        done = other.up(extra_env={"BENCHCTL_LITELLM_PREPARE": str(hook)})
        assert done.returncode == 1
        assert "the LiteLLM proxy exited while starting" in done.stderr
        assert str(other.root / ".benchctl" / "stack" / "logs" / "proxy.log") in done.stderr
        assert "Fatal Python error" in done.stderr or "encodings" in done.stderr
        # The parts that did start are recorded, so `down` stops them.
        assert set(other.pids()) == {"sim"}
    finally:
        teardown(other)
    assert other.pids() == {}


def test_down_leaves_no_process_behind(postgres_server: str):
    """Embedded PostgreSQL this time: `up` starts it and `down` stops it too."""
    require_litellm()
    other = make_stack(None)
    try:
        done = other.up()
        if done.returncode != 0:
            unavailable(f"benchctl up (embedded PostgreSQL) failed:\n{done.stderr[-3000:]}")
        status = {part["name"]: part for part in other.status()["parts"]}
        assert status["postgres"]["pid"] is not None and status["postgres"]["healthy"]
        pids = set(other.pids().values())
        pids |= set(processes.group_members(other.pids()["proxy"]))
        assert len(pids) >= 3
        stopped = other.run("down", timeout=120)
        assert stopped.returncode == 0, stopped.stderr
        assert "Stopped" in stopped.stdout
        assert [pid for pid in pids if processes.alive(pid)] == []
        assert not state_path(other.root / ".benchctl").exists()
        after = other.run("status")
        assert after.returncode == 0
        assert "has not started anything" in after.stdout
    finally:
        teardown(other)


def test_down_never_signals_a_recycled_pid(tmp_path: Path):
    """A recorded pid now held by another program (same pid, other start time) is left alone."""
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        found = processes.identity(sleeper.pid)
        assert found is not None
        assert not processes.stop(sleeper.pid, "1", found.cmdline, group=False)
        assert not processes.stop(sleeper.pid, found.start_time, ["other"], group=False)
        assert sleeper.poll() is None
        assert processes.stop(sleeper.pid, found.start_time, found.cmdline, group=False)
        assert sleeper.wait(timeout=5) is not None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_up_outside_a_repository_is_a_usage_error(tmp_path: Path, run_cli):
    from benchctl import extras

    if extras.missing("proxy"):
        unavailable("needs the proxy extra: without it `up` stops at that, before the manifests")
    result = run_cli("up", "--root", str(tmp_path))
    assert result.exit_code == 2
    assert "no manifests found" in result.output
