"""`up`, `down` and `status` of the local stack, as functions the CLI and the demo call.

`up` is idempotent: a part whose recorded process still runs (same pid, start time and command
line) is kept; only missing parts are started, in order, each waited on until healthy. State is
saved after every part, so an interrupted `up` leaves a file `down` can stop everything from.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from benchctl.errors import StackError, UsageError
from benchctl.litellm.config import config_fingerprint
from benchctl.manifests.catalog import Repository
from benchctl.ports import DEFAULT_PROMETHEUS_PORT, DEFAULT_PROXY_PORT, DEFAULT_REDIS_PORT
from benchctl.settings import Settings, redact_dsn
from benchctl.stack import parts, processes
from benchctl.stack.state import (
    PartRecord,
    StackState,
    clear_state,
    load_state,
    master_key,
    part_kind,
    save_state,
    stack_dir,
)

PROXY_STARTUP_TIMEOUT_S = 180.0
STARTUP_TIMEOUT_S = 30.0

Action = Literal["started", "restarted", "running", "adopted", "external"]


@dataclass(frozen=True)
class StackOptions:
    proxy_port: int = DEFAULT_PROXY_PORT
    prometheus_port: int = DEFAULT_PROMETHEUS_PORT
    # None: the port of each simulated provider's api_base.
    sim_port: int | None = None
    sim_speed: float = 1.0
    restart_proxy: bool = False
    proxy_timeout: float = PROXY_STARTUP_TIMEOUT_S
    # LiteLLM instances on proxy_port, proxy_port + 1, ...; None: as many as run (else 1).
    proxies: int | None = None
    redis_port: int = DEFAULT_REDIS_PORT


@dataclass(frozen=True)
class Progress:
    """What `up` or `down` is doing: ``done`` when ``part`` reached its final state."""

    part: str
    message: str
    done: bool = False


OnProgress = Callable[[Progress], None]


@dataclass(frozen=True)
class PartStatus:
    name: str
    url: str
    pid: int | None
    running: bool
    healthy: bool
    # Why not healthy, or how it came to run ("started", "running", ...) after `up`.
    detail: str
    log_path: str | None
    action: Action | None = None


@dataclass(frozen=True)
class StackStatus:
    parts: list[PartStatus] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(p.healthy for p in self.parts)


def _quiet(event: Progress) -> None:
    """The default progress callback: silence."""


def up(
    settings: Settings,
    repository: Repository,
    *,
    options: StackOptions | None = None,
    progress: OnProgress = _quiet,
) -> StackStatus:
    """Start what is not running, in order, each until healthy; the status of every part."""
    options = options or StackOptions()
    # Absolute: parts run with their own working directory.
    state_dir = settings.state_dir.resolve()
    stack_dir(state_dir).mkdir(parents=True, exist_ok=True)
    state = load_state(state_dir)
    actions: dict[str, Action] = {}
    notes: list[str] = []

    sims = parts.simulated_providers(repository)
    if options.sim_port is not None:
        if len(sims) != 1:
            raise UsageError(
                f"--sim-port needs exactly one simulated provider; the manifests have {len(sims)}"
                f" ({', '.join(sims) or 'none'}). Set their ports in their api_base instead."
            )
        sims = dict.fromkeys(sims, options.sim_port)
    prometheus_bin = shutil.which("prometheus")
    count = options.proxies or max(1, len(state.proxies()))
    redis_bin = shutil.which("redis-server")
    if count > 1 and redis_bin is None:
        raise StackError(
            f"{count} proxy instances share their budgets, rate limits and key revocations"
            " through Redis, and `redis-server` is not on PATH: install it (e.g. `apt-get"
            " install redis-server`), or run one instance (--proxies 1). Nothing was started."
        )
    _check_ports(state, sims, options, count, prometheus_bin)

    # -- the benchmark database
    if settings.database_url is not None:
        benchmark_url = settings.database_url
        state.parts.pop("postgres", None)
        actions["postgres"] = "external"
        progress(Progress("postgres", "using BENCHCTL_DATABASE_URL", done=True))
    else:
        have = state.parts.get("postgres")
        if have is not None and parts.record_alive(have) and have.database_url:
            benchmark_url = have.database_url
            actions["postgres"] = "running"
        else:
            progress(Progress("postgres", "starting the embedded PostgreSQL"))
            record, benchmark_url = parts.start_postgres(state_dir)
            state.parts["postgres"] = record
            actions["postgres"] = "adopted" if record.adopted else "started"
            save_state(state_dir, state)
        progress(Progress("postgres", actions["postgres"], done=True))

    # -- simulated providers
    for provider, port in sims.items():
        name = parts.sim_part_name(provider)
        have = state.parts.get(name)
        if have is not None and parts.record_alive(have):
            actions[name] = "running"
        else:
            _clear_leftovers(have)
            progress(Progress(name, f"starting the simulator on port {port}"))
            state.parts[name] = parts.start_sim(
                state_dir,
                settings.root.resolve(),
                provider,
                port,
                options.sim_speed,
                timeout=STARTUP_TIMEOUT_S,
                on_wait=_waiting(progress, name),
            )
            actions[name] = "restarted" if have is not None else "started"
            save_state(state_dir, state)
        progress(Progress(name, actions[name], done=True))

    # -- Redis, which several proxy instances share
    if count > 1:
        _start_redis(state_dir, state, redis_bin, options, actions, progress)
    elif "redis" in state.parts and _all_restart(state, count, options):
        # One instance alone needs no Redis: stop it while no proxy uses it.
        parts.stop_process(state.parts.pop("redis"))
        save_state(state_dir, state)

    # -- the LiteLLM proxy instances
    for record in state.proxies()[count:]:
        progress(Progress(record.name, f"stopping {record.name}: --proxies is {count}"))
        parts.stop_process(record)
        del state.parts[record.name]
        save_state(state_dir, state)
    config = parts.proxy_config(repository, state)
    wanted: dict[str, int] = {}
    drifted = False
    for instance in range(1, count + 1):
        name = parts.proxy_part_name(instance)
        have = state.parts.get(name)
        running = have is not None and parts.record_alive(have)
        if running and have is not None and options.restart_proxy:
            progress(Progress(name, f"stopping {name} to restart it with a fresh config"))
            parts.stop_process(have)
            running = False
        if running and have is not None:
            actions[name] = "running"
            drifted = drifted or have.config_fingerprint != config_fingerprint(config)
        else:
            _clear_leftovers(have)
            actions[name] = "restarted" if have is not None else "started"
            wanted[name] = options.proxy_port + instance - 1
    if drifted:
        notes.append(
            "the LiteLLM config (the manifests' render, and the Redis settings of several"
            " instances) differs from the one a running proxy instance was started with: run"
            " `benchctl up --restart-proxy` to load it everywhere."
        )
    if wanted:
        key = master_key(state_dir, create=True)
        assert key is not None  # create=True always returns one
        litellm_url = settings.litellm_database_url
        if litellm_url is None:
            progress(Progress("proxy", "preparing LiteLLM's database"))
            litellm_url = parts.litellm_database(benchmark_url)
        listing = ", ".join(f"{name} on port {port}" for name, port in wanted.items())
        progress(Progress("proxy", f"starting the LiteLLM proxy: {listing}"))
        redis = state.parts.get("redis")
        for record in parts.start_proxies(
            state_dir,
            config,
            ports=wanted,
            master_key=key,
            database_url=litellm_url,
            redis=redis.url if redis is not None else None,
            timeout=options.proxy_timeout,
            on_wait=lambda name: _waiting(progress, name),
        ):
            state.parts[record.name] = record
        save_state(state_dir, state)
    for record in state.proxies():
        progress(Progress(record.name, actions[record.name], done=True))

    # -- Prometheus
    proxy_ports = [p.port or options.proxy_port for p in state.proxies()]
    if prometheus_bin is None:
        notes.append(
            "Prometheus is not installed (no `prometheus` on PATH), so the proxy's metrics are"
            " not scraped; the benchmark data does not depend on it. Install it (e.g. `apt-get"
            " install prometheus`) and run `benchctl up` again to add it."
        )
    else:
        scrape = parts.prometheus_config(proxy_ports)
        have = state.parts.get("prometheus")
        running = have is not None and parts.record_alive(have)
        if running and have is not None and have.config_fingerprint != config_fingerprint(scrape):
            parts.stop_process(have)  # it scrapes proxy ports that changed
            running = False
        if running:
            actions["prometheus"] = "running"
        else:
            _clear_leftovers(have)
            port = options.prometheus_port
            progress(Progress("prometheus", f"starting Prometheus on port {port}"))
            state.parts["prometheus"] = parts.start_prometheus(
                state_dir,
                prometheus_bin,
                scrape,
                port=port,
                timeout=STARTUP_TIMEOUT_S,
                on_wait=_waiting(progress, "prometheus"),
            )
            actions["prometheus"] = "restarted" if have is not None else "started"
            save_state(state_dir, state)
        progress(Progress("prometheus", actions["prometheus"], done=True))

    result = status(settings)
    return replace(
        result,
        parts=[replace(p, action=actions.get(p.name)) for p in result.parts],
        notes=result.notes + notes,
    )


def _start_redis(
    state_dir: Path,
    state: StackState,
    binary: str | None,
    options: StackOptions,
    actions: dict[str, Action],
    progress: OnProgress,
) -> None:
    assert binary is not None  # checked before anything started
    have = state.parts.get("redis")
    if have is not None and parts.record_alive(have):
        actions["redis"] = "running"
    else:
        _clear_leftovers(have)
        progress(Progress("redis", f"starting Redis on port {options.redis_port}"))
        state.parts["redis"] = parts.start_redis(
            state_dir,
            binary,
            port=options.redis_port,
            timeout=STARTUP_TIMEOUT_S,
            on_wait=_waiting(progress, "redis"),
        )
        actions["redis"] = "restarted" if have is not None else "started"
        save_state(state_dir, state)
    progress(Progress("redis", actions["redis"], done=True))


def _all_restart(state: StackState, count: int, options: StackOptions) -> bool:
    """Whether no proxy instance that stays will still be running when instances start."""
    staying = state.proxies()[:count]
    return options.restart_proxy or not any(parts.record_alive(p) for p in staying)


def _clear_leftovers(record: PartRecord | None) -> None:
    """Children a dead part left behind (the proxy's query-engine shim after the proxy was
    killed) would hold its database connections and ports: stop them before starting anew."""
    if record is not None:
        parts.stop_process(record)


def _waiting(progress: OnProgress, name: str) -> Callable[[float], None]:
    # The last probe's error (connection refused while it boots) is noise here; a part that
    # never gets healthy fails with it, its log's path and its last lines.
    def on_wait(elapsed: float) -> None:
        progress(Progress(name, f"waiting for {name} to be healthy ({elapsed:.0f}s)"))

    return on_wait


def _check_ports(
    state: StackState,
    sims: dict[str, int],
    options: StackOptions,
    count: int,
    prometheus: str | None,
) -> None:
    """Before starting anything: every port a part is about to take must be free."""
    wanted: list[tuple[str, int, str]] = []
    for provider, port in sims.items():
        name = parts.sim_part_name(provider)
        wanted.append((name, port, "--sim-port / BENCHCTL_SIM_PORT, or its api_base"))
    if count > 1:
        wanted.append(("redis", options.redis_port, "--redis-port / BENCHCTL_REDIS_PORT"))
    for instance in range(1, count + 1):
        how = "--proxy-port / BENCHCTL_PROXY_PORT" + (
            "" if instance == 1 else f" (instance {instance} takes that port + {instance - 1})"
        )
        wanted.append((parts.proxy_part_name(instance), options.proxy_port + instance - 1, how))
    if prometheus is not None:
        wanted.append(
            ("prometheus", options.prometheus_port, "--prometheus-port / BENCHCTL_PROMETHEUS_PORT")
        )
    taken = []
    for name, port, how in wanted:
        have = state.parts.get(name)
        if have is not None and parts.record_alive(have):
            if part_kind(name) != "proxy" or not options.restart_proxy:
                continue
            if have.port == port:
                continue
        if not processes.port_free(parts.HOST, port):
            taken.append(f"port {port} for {name} is in use by another program (choose with {how})")
    if taken:
        raise StackError(
            "cannot start the local stack: " + "; ".join(taken) + ". Stop what holds the port, or"
            " pick another one. Nothing was started."
        )


def _with_embedded(settings: Settings, state: StackState) -> StackState:
    """The recorded stack plus the embedded PostgreSQL when it runs without a record.

    Any command that needs the database starts the embedded server (`plan`, `apply`...), and
    it outlives that command: the stack's commands show and stop it like the parts `up`
    starts, so nobody is left with a server they cannot see.
    """
    state_dir = settings.state_dir.resolve()
    if (
        settings.database_url is None
        and "postgres" not in state.parts
        and parts.postmaster_pid(state_dir) is not None
    ):
        record, _ = parts.start_postgres(state_dir)  # adopts the running server
        state = state.model_copy(deep=True)
        state.parts["postgres"] = record
    return state


def stop_database(settings: Settings, *, progress: OnProgress = _quiet) -> bool:
    """Stop the embedded PostgreSQL (not the rest of the stack); False if it was not running."""
    if settings.database_url is not None:
        raise UsageError(
            "BENCHCTL_DATABASE_URL names a server benchctl did not start; stop it as you"
            " started it (unset the variable to manage the embedded database)."
        )
    state_dir = settings.state_dir.resolve()
    state = _with_embedded(settings, load_state(state_dir))
    proxy = state.parts.get("proxy")
    if proxy is not None and parts.record_alive(proxy):
        raise StackError(
            "the local stack's LiteLLM proxy keeps its database on the embedded PostgreSQL:"
            " run `benchctl down` to stop both."
        )
    record = state.parts.get("postgres")
    if record is None:
        return False
    progress(Progress("postgres", f"stopping postgres (pid {record.pid})"))
    stopped = parts.stop_postgres(record)
    saved = load_state(state_dir)
    if saved.parts.pop("postgres", None) is not None:
        save_state(state_dir, saved)
    return stopped


def down(settings: Settings, *, progress: OnProgress = _quiet) -> list[str]:
    """Stop what `up` started, and the embedded PostgreSQL whoever started it, in reverse
    order, groups included; the names of stopped parts."""
    # Absolute: parts run with their own working directory.
    state_dir = settings.state_dir.resolve()
    state = _with_embedded(settings, load_state(state_dir))
    stopped = []
    for record in reversed(state.ordered()):
        if record.pid is None:
            continue
        progress(Progress(record.name, f"stopping {record.name} (pid {record.pid})"))
        stop = parts.stop_postgres if record.name == "postgres" else parts.stop_process
        if stop(record):
            stopped.append(record.name)
            progress(Progress(record.name, "stopped", done=True))
        else:
            progress(Progress(record.name, "was not running", done=True))
        del state.parts[record.name]
        save_state(state_dir, state)
    clear_state(state_dir)
    return stopped


def status(settings: Settings) -> StackStatus:
    """Each recorded part (and the embedded PostgreSQL whoever started it): its process (still
    the one started?) and a health probe."""
    state = _with_embedded(settings, load_state(settings.state_dir.resolve()))
    found = []
    notes = []
    if settings.database_url is not None and "postgres" not in state.parts:
        url = redact_dsn(settings.database_url)
        problem = parts.probe_postgres(settings.database_url)
        found.append(
            PartStatus(
                name="postgres",
                url=f"BENCHCTL_DATABASE_URL ({url})",
                pid=None,
                running=problem is None,
                healthy=problem is None,
                detail=problem or "healthy",
                log_path=None,
            )
        )
    for record in state.ordered():
        running = record.pid is None or parts.record_alive(record)
        problem = parts.probe(record) if running else f"pid {record.pid} is gone"
        found.append(
            PartStatus(
                name=record.name,
                url=record.url,
                pid=record.pid,
                running=running,
                healthy=running and problem is None,
                detail=problem or "healthy",
                log_path=record.log_path,
            )
        )
    if not state.parts:
        notes.append("benchctl up has not started anything here; run `benchctl up`.")
    elif not all(p.healthy for p in found):
        notes.append("run `benchctl up` to start what is not running.")
    return StackStatus(parts=found, notes=notes)
