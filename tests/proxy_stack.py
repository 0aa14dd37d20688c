"""pytest plugin: the real LiteLLM proxy, with its own database, in front of the simulator.

``litellm_proxy`` (session scope) starts, once per run:

- a database for LiteLLM on the test PostgreSQL (``postgres_server``);
- benchctl's simulated provider (``providers/sim.yaml``), sped up so tests are quick;
- ``litellm --config <rendered>`` on a free loopback port, with a random master key.

Processes, health waits and the prepare hook are `benchctl up`'s own (``benchctl.stack``).
Where Prisma's engines cannot be downloaded, the hook is ``BENCHCTL_LITELLM_PREPARE``, else the
offline kit's setup.sh (``BENCHCTL_LITELLM_OFFLINE_KIT``, else ``../shared/litellm-offline``
beside the repository). Without litellm, or when the proxy does not come up, the tests that use
it are skipped, except under ``CI=true``, where they fail: CI must run them.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest
from psycopg import sql

from benchctl.db import migrate
from benchctl.errors import StackError
from benchctl.litellm.client import LiteLLMClient
from benchctl.litellm.config import DATABASE_URL_ENV, MASTER_KEY_ENV, dump_config, render_config
from benchctl.manifests.loader import load_repository
from benchctl.reconcile.desired import KEY_ALIAS_PREFIX
from benchctl.stack import processes
from benchctl.stack.parts import PREPARE_ENV, prepare, prisma_url, probe_proxy

from conftest import REPO_ROOT

STARTUP_TIMEOUT_S = 90.0
# Simulated delays divided by this: a median sim-fast answer takes ~0.1 s instead of ~2 s.
SIM_SPEED = 20.0


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


def unavailable(reason: str) -> NoReturn:
    """Skip the test for want of the proxy; under CI=true, fail it instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"the LiteLLM proxy is required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def session_env(proxy: ProxyStack, database_url: str) -> dict[str, str]:
    """benchctl's environment for a test that opens sessions on the shared proxy: a migrated
    database of its own, and no session keys left over from other tests."""
    with proxy.client() as client:
        stale = client.list_keys(alias_prefix=KEY_ALIAS_PREFIX)
        client.delete_keys(aliases=[k.key_alias for k in stale if k.key_alias])
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate.upgrade(conn)
    return {
        "BENCHCTL_DATABASE_URL": database_url,
        "BENCHCTL_PROXY_URL": proxy.url,
        "BENCHCTL_PROXY_MASTER_KEY": proxy.master_key,
        "BENCHCTL_OPERATOR": "tester@example.org",
    }


@contextmanager
def proxy_process(
    postgres_server: str,
    workdir: Path,
    config: dict[str, Any],
    extra_env: dict[str, str] | None = None,
) -> Iterator[ProxyStack]:
    """The real LiteLLM proxy serving ``config``, with a database of its own on the test
    server and a random master key; stopped and its database dropped afterwards."""
    litellm_bin = Path(sys.executable).parent / "litellm"
    if importlib.util.find_spec("litellm") is None or not litellm_bin.exists():
        unavailable(
            f"needs the proxy extra: litellm is not installed in {sys.prefix}"
            " (pip install -r requirements/all.txt, or -e '.[dev,proxy]')"
        )
    db_name = f"litellm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))
    database_url = prisma_url(postgres_server, db_name)
    proxy: processes.Identity | None = None
    log_path = workdir / "litellm.log"
    try:
        config_path = workdir / "litellm.yaml"
        config_path.write_text(dump_config(config), encoding="utf-8")
        env = _proxy_env(database_url, workdir)
        env.update(extra_env or {})
        master_key = f"sk-test-{secrets.token_hex(16)}"
        env[MASTER_KEY_ENV] = master_key
        env[DATABASE_URL_ENV] = database_url
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [litellm_bin, "--config", config_path, "--host", "127.0.0.1", "--port", str(port)]
        try:
            proxy = processes.spawn(argv, env=env, cwd=workdir, log_path=log_path)
            processes.wait_healthy(
                "litellm",
                lambda: probe_proxy(url),
                pid=proxy.pid,
                log_path=log_path,
                timeout=STARTUP_TIMEOUT_S,
            )
        except StackError as exc:
            unavailable(str(exc))
        yield ProxyStack(
            url=url,
            master_key=master_key,
            database_url=database_url,
            sim_url="",
            config_path=config_path,
            log_path=log_path,
        )
    finally:
        if proxy is not None:
            # The query-engine shim is the proxy's child, in its process group.
            processes.stop(proxy.pid, proxy.start_time, proxy.cmdline, group=True)
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_name))
            )


@pytest.fixture(scope="session")
def litellm_proxy(
    postgres_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProxyStack]:
    from benchctl.sim.server import SimServer
    from benchctl.sim.work import load_solutions

    repository = load_repository(REPO_ROOT).repository
    solutions, problems = load_solutions(REPO_ROOT)
    assert not problems, problems
    sim = SimServer(repository.providers["sim"].model, speed=SIM_SPEED, solutions=solutions).start()
    try:
        config = render_config(repository, api_base_overrides={"sim": sim.url})
        workdir = tmp_path_factory.mktemp("litellm-proxy")
        with proxy_process(postgres_server, workdir, config) as proxy:
            yield replace(proxy, sim_url=sim.url)
    finally:
        sim.stop()


def offline_kit() -> Path | None:
    named = os.environ.get("BENCHCTL_LITELLM_OFFLINE_KIT")
    if named:
        return Path(named)
    beside = REPO_ROOT.parent / "shared" / "litellm-offline"
    return beside if beside.is_dir() else None


def prepare_hook() -> str | None:
    """`benchctl up`'s hook if set, else the offline kit's setup.sh, if there is a kit."""
    hook = os.environ.get(PREPARE_ENV)
    if hook:
        return hook
    kit = offline_kit()
    if kit is None:
        return None
    if not (kit / "setup.sh").exists():
        unavailable(f"BENCHCTL_LITELLM_OFFLINE_KIT names {kit}, which has no setup.sh")
    return str(kit / "setup.sh")


def _proxy_env(database_url: str, workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    # A licence in the caller's environment would hide Enterprise-only refusals from the tests.
    env.pop("LITELLM_LICENSE", None)
    try:
        env.update(prepare(prepare_hook(), database_url, workdir / "offline-setup.log"))
    except StackError as exc:
        unavailable(str(exc))
    return env


def free_port() -> int:
    return processes.free_port()
