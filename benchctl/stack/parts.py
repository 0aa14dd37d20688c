"""The parts of the local stack: how each one starts, where it logs, how its health is probed.

postgres    the embedded PostgreSQL (benchctl.db.embedded), unless BENCHCTL_DATABASE_URL
sim         `benchctl sim` for each simulated provider, on its api_base's port
redis       `redis-server` on loopback, shared by the proxy instances when there are several
proxy       `litellm --config .benchctl/stack/litellm.yaml`, its own database `litellm`;
            instances proxy-2 ... proxy-N on the next ports, on the same database
prometheus  scraping every proxy instance's /metrics/, when `prometheus` is on PATH
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
import psycopg

from benchctl.db import embedded
from benchctl.db.queries import query
from benchctl.errors import StackError
from benchctl.litellm.config import (
    DATABASE_URL_ENV,
    MASTER_KEY_ENV,
    REDIS_HOST_ENV,
    REDIS_PORT_ENV,
    config_fingerprint,
    dump_config,
    render_config,
    with_redis,
)
from benchctl.manifests.catalog import Repository
from benchctl.settings import redact_dsn
from benchctl.stack import processes
from benchctl.stack.prometheus import dump_scrape_config, render_scrape_config
from benchctl.stack.state import PartRecord, StackState, logs_dir, part_kind, stack_dir

HOST = "127.0.0.1"
DEFAULT_SIM_PORT = 8799
LITELLM_DATABASE = "litellm"
PREPARE_ENV = "BENCHCTL_LITELLM_PREPARE"
PROBE_TIMEOUT_S = 2.0

OnWait = Callable[[float], None]


# -- probes: None when healthy, else a short reason --------------------------------------------


def _http_probe(url: str, check: Callable[[httpx.Response], str | None]) -> str | None:
    try:
        response = httpx.get(url, timeout=PROBE_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__} from {url}"
    return check(response)


def probe_postgres(url: str) -> str | None:
    try:
        with psycopg.connect(url, connect_timeout=2, autocommit=True) as conn:
            conn.execute(query("stack.ping"))
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return redact_dsn(first)
    return None


def probe_sim(url: str) -> str | None:
    def check(response: httpx.Response) -> str | None:
        return None if response.status_code == 200 else f"HTTP {response.status_code}"

    return _http_probe(f"{_origin(url)}/health", check)


def probe_proxy(url: str) -> str | None:
    def check(response: httpx.Response) -> str | None:
        try:
            db = response.json().get("db")
        except (ValueError, AttributeError):
            return f"HTTP {response.status_code} without JSON"
        return None if db == "connected" else f"database {db!r}"

    return _http_probe(f"{url}/health/readiness", check)


def probe_prometheus(url: str) -> str | None:
    def check(response: httpx.Response) -> str | None:
        return None if response.status_code == 200 else f"HTTP {response.status_code}"

    return _http_probe(f"{url}/-/ready", check)


def probe_redis(url: str) -> str | None:
    """Redis' own health check: PING answered by +PONG (no client library needed)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or HOST, parts.port or 6379), timeout=PROBE_TIMEOUT_S
        ) as sock:
            sock.sendall(b"PING\r\n")
            answer = sock.recv(64)
    except OSError as exc:
        return f"{type(exc).__name__} from {url}"
    return None if answer.startswith(b"+PONG") else f"answered {answer[:40]!r} to PING"


PROBES: dict[str, Callable[[str], str | None]] = {
    "postgres": probe_postgres,
    "sim": probe_sim,
    "redis": probe_redis,
    "proxy": probe_proxy,
    "prometheus": probe_prometheus,
}


def probe(record: PartRecord) -> str | None:
    kind = part_kind(record.name)
    check = PROBES[kind]
    return check(record.database_url if kind == "postgres" and record.database_url else record.url)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def record_alive(record: PartRecord) -> bool:
    return processes.matches(record.pid, record.start_time, record.cmdline)


def _record(name: str, found: processes.Identity, **fields: Any) -> PartRecord:
    return PartRecord(
        name=name, pid=found.pid, start_time=found.start_time, cmdline=list(found.cmdline), **fields
    )


def _configured(
    name: str,
    found: processes.Identity,
    port: int,
    log_path: Path,
    config: Mapping[str, Any],
    config_path: Path,
    **fields: Any,
) -> PartRecord:
    """An HTTP part started from a rendered config: `up` restarts it when the config changes."""
    return _record(
        name,
        found,
        url=f"http://{HOST}:{port}",
        port=port,
        log_path=str(log_path),
        config_fingerprint=config_fingerprint(config),
        config_path=str(config_path),
        **fields,
    )


# -- postgres ----------------------------------------------------------------------------------


def postmaster_pid(state_dir: Path) -> int | None:
    """The embedded server's postmaster, from the first line of postmaster.pid, if it runs.

    A pid file left by a crash may name a pid the system has since given to another program:
    only a postgres process counts, so nothing else is ever adopted, shown or signalled.
    """
    try:
        first = (embedded.data_dir(state_dir) / "postmaster.pid").read_text().split("\n", 1)[0]
        pid = int(first)
    except (OSError, ValueError):
        return None
    found = processes.identity(pid)
    if found is None or not any("postgres" in Path(arg).name for arg in found.cmdline[:1]):
        return None
    return pid


def start_postgres(state_dir: Path) -> tuple[PartRecord, str]:
    """Start (or adopt) the embedded server; the record and the benchmark database's URL."""
    adopted = postmaster_pid(state_dir) is not None
    if not adopted:
        _forget_stopped_server(state_dir)
    url = embedded.start(state_dir, announce=False)
    pid = postmaster_pid(state_dir)
    found = processes.identity(pid) if pid is not None else None
    if found is None:
        raise StackError(
            f"the embedded PostgreSQL in {embedded.data_dir(state_dir)} did not stay up."
            f"{processes.tail_message(embedded.data_dir(state_dir) / 'log')}"
        )
    record = _record(
        "postgres",
        found,
        url=f"embedded, data in {embedded.data_dir(state_dir)}",
        database_url=url,
        log_path=str(embedded.data_dir(state_dir) / "log"),
        adopted=adopted,
    )
    return record, url


def _forget_stopped_server(state_dir: Path) -> None:
    """pgserver caches one handle per data folder for the life of the process; after `down`
    stopped that server, a later `up` in the same process (the demo, tests) would get the
    stale handle back instead of a started server."""
    with warnings.catch_warnings():
        # Importing pgserver computes a runtime folder, and warns without XDG_RUNTIME_DIR.
        warnings.simplefilter("ignore")
        from pgserver import postgres_server

    instances: dict[Path, Any] = postgres_server.PostgresServer._instances
    instances.pop(embedded.data_dir(state_dir).resolve(), None)


def stop_postgres(record: PartRecord) -> bool:
    # SIGINT is PostgreSQL's fast shutdown: clients are disconnected, nothing is lost.
    if record.pid is None:
        return False
    return processes.stop(
        record.pid, record.start_time, record.cmdline, group=False, sig=signal.SIGINT
    )


def prisma_url(server_url: str, database: str) -> str:
    """A postgresql:// URL (Prisma takes no key=value DSN) for ``database`` on the server of
    ``server_url``, which may be either form; a socket directory goes in ``?host=``."""
    info = psycopg.conninfo.conninfo_to_dict(server_url)
    host = str(info.get("host") or "")
    user = quote(str(info.get("user") or "postgres"), safe="")
    password = info.get("password")
    auth = f"{user}:{quote(str(password), safe='')}" if password else user
    port = f":{info['port']}" if info.get("port") else ""
    if host.startswith("/"):
        return f"postgresql://{auth}@/{database}?{urlencode({'host': host})}"
    # A server that takes only TLS must get it from LiteLLM too (Prisma reads libpq's sslmode).
    tls = f"?{urlencode({'sslmode': info['sslmode']})}" if info.get("sslmode") else ""
    return f"postgresql://{auth}@{host or 'localhost'}{port}/{database}{tls}"


def litellm_database(benchmark_url: str) -> str:
    """LiteLLM's own database beside the benchmark database (created if missing)."""
    embedded.ensure_database(benchmark_url, LITELLM_DATABASE)
    return prisma_url(benchmark_url, LITELLM_DATABASE)


# -- simulated providers -----------------------------------------------------------------------


def simulated_providers(repository: Repository) -> dict[str, int]:
    """Simulated providers and the port of their manifest's api_base."""
    ports = {}
    for name, loaded in sorted(repository.providers.items()):
        spec = loaded.model.spec
        if spec.simulator is None:
            continue
        port = urlsplit(spec.api_base).port if spec.api_base else None
        ports[name] = port or DEFAULT_SIM_PORT
    return ports


def sim_part_name(provider: str) -> str:
    return "sim" if provider == "sim" else f"sim-{provider}"


def sim_url(port: int) -> str:
    return f"http://{HOST}:{port}/v1"


def start_sim(
    state_dir: Path,
    root: Path,
    provider: str,
    port: int,
    speed: float,
    *,
    timeout: float,
    on_wait: OnWait | None = None,
) -> PartRecord:
    name = sim_part_name(provider)
    log_path = logs_dir(state_dir) / f"{name}.log"
    argv = [
        sys.executable,
        "-m",
        "benchctl",
        "sim",
        "--root",
        str(root),
        "--provider",
        provider,
        "--host",
        HOST,
        "--port",
        str(port),
        "--speed",
        repr(speed),
    ]
    found = processes.spawn(argv, env=os.environ, cwd=root, log_path=log_path)
    record = _record(name, found, url=sim_url(port), port=port, log_path=str(log_path), speed=speed)
    return _healthy_or_stopped(f"the simulator {name}", record, timeout, on_wait)


# -- Redis -------------------------------------------------------------------------------------


def redis_url(port: int) -> str:
    return f"redis://{HOST}:{port}"


def start_redis(
    state_dir: Path, binary: str, *, port: int, timeout: float, on_wait: OnWait | None = None
) -> PartRecord:
    """A Redis of the stack's own, in memory only: what LiteLLM keeps there (spend counters
    between writes, cached keys, locks) is rebuilt from its database after a restart."""
    log_path = logs_dir(state_dir) / "redis.log"
    argv = [
        binary,
        "--bind", HOST,
        "--port", str(port),
        "--save", "",
        "--appendonly", "no",
        "--dir", str(stack_dir(state_dir)),
    ]  # fmt: skip
    found = processes.spawn(argv, env=os.environ, cwd=stack_dir(state_dir), log_path=log_path)
    # Redis rewrites its command line into a process title once it runs: until then the pid
    # and start time identify it, afterwards the title is recorded as its command line.
    record = _record("redis", found, url=redis_url(port), port=port, log_path=str(log_path))
    record.cmdline = []
    _healthy_or_stopped("Redis", record, timeout, on_wait)
    titled = processes.identity(found.pid)
    if titled is not None and titled.start_time == found.start_time:
        record.cmdline = list(titled.cmdline)
    return record


# -- the LiteLLM proxy -------------------------------------------------------------------------


def proxy_part_name(instance: int) -> str:
    """``proxy`` for the first instance (the one admin calls go to), then proxy-2, proxy-3..."""
    return "proxy" if instance == 1 else f"proxy-{instance}"


def litellm_executable() -> Path:
    """`litellm` beside this interpreter: the `proxy` extra installs it into benchctl's venv."""
    path = Path(sys.executable).parent / "litellm"
    if not path.exists():
        raise StackError(
            f"the LiteLLM proxy is not installed in {sys.prefix}: pip install 'benchctl[proxy]'"
            " (or -e '.[proxy]' in a checkout), then run `benchctl up` again."
        )
    return path


def sim_overrides(state: StackState) -> dict[str, str]:
    """Where the running simulators listen, by provider: the proxy config points there."""
    overrides = {}
    for record in state.parts.values():
        if record.name == "sim":
            overrides["sim"] = record.url
        elif record.name.startswith("sim-"):
            overrides[record.name.removeprefix("sim-")] = record.url
    return overrides


def proxy_config(repository: Repository, state: StackState) -> dict[str, Any]:
    """The config the local proxy runs: the manifests' render, pointed at the simulators, with
    LiteLLM's multi-instance settings when the stack runs a Redis for several instances."""
    config = render_config(repository, api_base_overrides=sim_overrides(state))
    return with_redis(config) if "redis" in state.parts else config


def prepare(hook: str | None, database_url: str, log_path: Path) -> dict[str, str]:
    """Run the prepare hook (``BENCHCTL_LITELLM_PREPARE``), if any; the variables it exports.

    The hook is how machines that cannot download Prisma's engines prepare LiteLLM's database
    and name stand-in engines: ``HOOK --python PYTHON --database-url URL`` prints
    ``export NAME='value'`` lines on stdout (progress on stderr, kept in ``log_path``).
    Without it the proxy migrates its database itself, as stock LiteLLM does.
    """
    if not hook:
        return {}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [hook, "--python", sys.executable, "--database-url", database_url],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise StackError(
            f"{PREPARE_ENV} names {hook}, which cannot be run ({exc.strerror or exc}): point it"
            " at an executable, or unset it to let LiteLLM prepare its database itself."
        ) from None
    log_path.write_text(done.stderr, encoding="utf-8")
    if done.returncode != 0:
        raise StackError(
            f"the LiteLLM prepare hook ({PREPARE_ENV}={hook}) failed with exit code"
            f" {done.returncode}.{redact_dsn(processes.tail_message(log_path))}"
        )
    exported = {}
    for line in done.stdout.splitlines():
        name, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and name.isidentifier():
            words = shlex.split(value)
            exported[name] = words[0] if words else ""
    return exported


def start_proxies(
    state_dir: Path,
    config: Mapping[str, Any],
    *,
    ports: Mapping[str, int],
    master_key: str,
    database_url: str,
    redis: str | None,
    timeout: float,
    on_wait: Callable[[str], OnWait | None] = lambda name: None,
) -> list[PartRecord]:
    """Start the proxy instances ``ports`` names, all at once, then wait for each: the
    instances boot in parallel. If one never gets healthy, none is left running."""
    directory = stack_dir(state_dir)
    config_path = directory / "litellm.yaml"
    config_path.write_text(dump_config(config), encoding="utf-8")
    env = dict(os.environ)
    hook = os.environ.get(PREPARE_ENV)
    env.update(prepare(hook, database_url, logs_dir(state_dir) / "proxy-prepare.log"))
    env[MASTER_KEY_ENV] = master_key
    env[DATABASE_URL_ENV] = database_url
    if redis is not None:
        where = urlsplit(redis)
        env[REDIS_HOST_ENV] = where.hostname or HOST
        env[REDIS_PORT_ENV] = str(where.port)
    spawned: list[PartRecord] = []
    try:
        for name, port in ports.items():
            log_path = logs_dir(state_dir) / f"{name}.log"
            argv: list[str | Path] = [
                litellm_executable(), "--config", config_path, "--host", HOST, "--port", str(port)
            ]  # fmt: skip
            found = processes.spawn(argv, env=env, cwd=directory, log_path=log_path)
            spawned.append(
                _configured(
                    name, found, port, log_path, config, config_path, database_url=database_url
                )
            )
        for record in spawned:
            title = "the LiteLLM proxy" + ("" if record.name == "proxy" else f" {record.name}")
            _healthy_or_stopped(title, record, timeout, on_wait(record.name))
    except StackError:
        for record in spawned:
            stop_process(record)
        raise
    return spawned


# -- Prometheus --------------------------------------------------------------------------------


def prometheus_config(proxy_ports: list[int]) -> dict[str, Any]:
    return render_scrape_config([f"{HOST}:{port}" for port in proxy_ports])


def start_prometheus(
    state_dir: Path,
    binary: str,
    config: dict[str, Any],
    *,
    port: int,
    timeout: float,
    on_wait: OnWait | None = None,
) -> PartRecord:
    directory = stack_dir(state_dir)
    log_path = logs_dir(state_dir) / "prometheus.log"
    config_path = directory / "prometheus.yml"
    config_path.write_text(dump_scrape_config(config), encoding="utf-8")
    argv: list[str | Path] = [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={directory / 'prometheus-data'}",
        f"--web.listen-address={HOST}:{port}",
    ]
    found = processes.spawn(argv, env=os.environ, cwd=directory, log_path=log_path)
    record = _configured("prometheus", found, port, log_path, config, config_path)
    return _healthy_or_stopped("Prometheus", record, timeout, on_wait)


def _healthy_or_stopped(
    title: str, record: PartRecord, timeout: float, on_wait: OnWait | None
) -> PartRecord:
    """Wait for a just-started part; one that never gets healthy is not left running."""
    try:
        processes.wait_healthy(
            title,
            lambda: probe(record),
            pid=record.pid,
            log_path=Path(record.log_path) if record.log_path else None,
            timeout=timeout,
            on_wait=on_wait,
        )
    except StackError:
        stop_process(record)
        raise
    return record


def stop_process(record: PartRecord) -> bool:
    """Stop a part benchctl spawned, with every process of its group."""
    if record.pid is None:
        return False
    return processes.stop(record.pid, record.start_time, record.cmdline, group=True)
