"""pytest plugin: the real LiteLLM proxy, with its own database, in front of the simulator.

``litellm_proxy`` (session scope) starts, once per run:

- a database for LiteLLM on the test PostgreSQL (``postgres_server``);
- benchctl's simulated provider (``providers/sim.yaml``), sped up so tests are quick;
- ``litellm --config <rendered>`` on a free loopback port, with a random master key.

Where Prisma's engines cannot be downloaded, the offline kit (``BENCHCTL_LITELLM_OFFLINE_KIT``,
else ``../shared/litellm-offline`` beside the repository) prepares the venv and the database.
Without litellm, or when the proxy does not come up, the tests that use it are skipped, except
under ``CI=true``, where they fail: CI must run them.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shlex
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote, urlencode

import httpx
import psycopg
import pytest
from psycopg import sql

from benchctl.litellm.client import LiteLLMClient
from benchctl.litellm.config import DATABASE_URL_ENV, MASTER_KEY_ENV, dump_config, render_config
from benchctl.manifests.loader import load_repository

from conftest import REPO_ROOT

STARTUP_TIMEOUT_S = 90.0
# Simulated delays divided by this: a median sim-fast answer takes ~0.1 s instead of ~2 s.
SIM_SPEED = 20.0
LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class ProxyStack:
    url: str
    master_key: str = field(repr=False)
    database_url: str
    sim_url: str
    config_path: Path
    log_path: Path

    def client(self, *, timeout: float = 30.0) -> LiteLLMClient:
        return LiteLLMClient(self.url, self.master_key, timeout=timeout)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "proxy: needs the real LiteLLM proxy (started once per run by proxy_stack)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # So that `-m "not proxy"` deselects every test that would start the proxy.
    for item in items:
        if "litellm_proxy" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.proxy)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the LiteLLM proxy is required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def litellm_proxy(
    postgres_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProxyStack]:
    litellm_bin = Path(sys.executable).parent / "litellm"
    if importlib.util.find_spec("litellm") is None or not litellm_bin.exists():
        _unavailable(f"litellm is not installed in {sys.prefix}: pip install -e '.[dev,proxy]'")
    from benchctl.sim.server import SimServer

    workdir = tmp_path_factory.mktemp("litellm-proxy")
    db_name = f"litellm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))
    database_url = _database_url(postgres_server, db_name)
    repository = load_repository(REPO_ROOT).repository
    sim = SimServer(repository.providers["sim"].model, speed=SIM_SPEED).start()
    process: subprocess.Popen[bytes] | None = None
    log_path = workdir / "litellm.log"
    try:
        config_path = workdir / "litellm.yaml"
        config = render_config(repository, api_base_overrides={"sim": sim.url})
        config_path.write_text(dump_config(config), encoding="utf-8")
        env = _proxy_env(database_url, workdir)
        master_key = f"sk-test-{secrets.token_hex(16)}"
        env[MASTER_KEY_ENV] = master_key
        env[DATABASE_URL_ENV] = database_url
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [litellm_bin, "--config", config_path, "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_ready(process, url, log_path)
        yield ProxyStack(
            url=url,
            master_key=master_key,
            database_url=database_url,
            sim_url=sim.url,
            config_path=config_path,
            log_path=log_path,
        )
    finally:
        if process is not None:
            _stop(process)
        sim.stop()
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_name))
            )


def _database_url(maintenance: str, name: str) -> str:
    """A postgresql:// URL (Prisma takes no key=value DSN) for database ``name`` on the server
    of ``maintenance``, which may be either form; a socket directory goes in ``?host=``."""
    info = psycopg.conninfo.conninfo_to_dict(maintenance)
    host = str(info.get("host") or "")
    user = quote(str(info.get("user") or "postgres"), safe="")
    password = info.get("password")
    auth = f"{user}:{quote(str(password), safe='')}" if password else user
    port = f":{info['port']}" if info.get("port") else ""
    if host.startswith("/"):
        return f"postgresql://{auth}@/{name}?{urlencode({'host': host})}"
    return f"postgresql://{auth}@{host or 'localhost'}{port}/{name}"


def _offline_kit() -> Path | None:
    named = os.environ.get("BENCHCTL_LITELLM_OFFLINE_KIT")
    if named:
        return Path(named)
    beside = REPO_ROOT.parent / "shared" / "litellm-offline"
    return beside if beside.is_dir() else None


def _proxy_env(database_url: str, workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    # A licence in the caller's environment would hide Enterprise-only refusals from the tests.
    env.pop("LITELLM_LICENSE", None)
    kit = _offline_kit()
    if kit is None:
        return env
    setup = kit / "setup.sh"
    if not setup.exists():
        _unavailable(f"BENCHCTL_LITELLM_OFFLINE_KIT names {kit}, which has no setup.sh")
    done = subprocess.run(
        [setup, "--python", sys.executable, "--database-url", database_url],
        capture_output=True,
        text=True,
        check=False,
    )
    (workdir / "offline-setup.log").write_text(done.stderr, encoding="utf-8")
    if done.returncode != 0:
        _unavailable(f"{setup} failed (exit {done.returncode}):\n{_tail(done.stderr.splitlines())}")
    for line in done.stdout.splitlines():  # export NAME='value'
        name, _, value = line.removeprefix("export ").partition("=")
        if name and value:
            env[name] = shlex.split(value)[0]
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _unavailable(
                f"litellm exited with code {process.returncode} while starting:\n"
                f"{_tail(_log_lines(log_path))}"
            )
        try:
            answer = httpx.get(f"{url}/health/readiness", timeout=2.0)
            if answer.json().get("db") == "connected":
                return
            last = answer.text
        except (httpx.HTTPError, ValueError) as exc:
            last = type(exc).__name__
        time.sleep(0.5)
    _stop(process)
    _unavailable(
        f"litellm did not report its database connected within {STARTUP_TIMEOUT_S:g}s"
        f" (last readiness answer: {last}):\n{_tail(_log_lines(log_path))}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and the query-engine shim exits with the proxy; SIGKILL if it hangs."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _log_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def _tail(lines: list[str]) -> str:
    return "\n".join(lines[-LOG_TAIL_LINES:])
