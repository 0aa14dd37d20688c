"""``benchctl up``, ``benchctl down``, ``benchctl status``: the local stack."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from benchctl import extras
from benchctl.cli.options import Root
from benchctl.ports import DEFAULT_PROMETHEUS_PORT, DEFAULT_PROXY_PORT, DEFAULT_REDIS_PORT

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from benchctl.stack import Progress, StackStatus

# Core modules are imported where used: every command, even --help, imports this module.

_ICON = {True: "[green]✓[/green]", False: "[red]✗[/red]"}


def _progress(status: Status, console: Console) -> Callable[[Progress], None]:
    """Finished steps as lines on stderr; the step under way in the spinner's text."""
    from rich.markup import escape

    def show(event: Progress) -> None:
        if event.done:
            console.print(f"  {escape(event.part)}: {escape(event.message)}", highlight=False)
        else:
            status.update(escape(event.message))

    return show


def up(
    root: Root = Path(),
    proxy_port: Annotated[
        int,
        typer.Option(
            "--proxy-port",
            envvar="BENCHCTL_PROXY_PORT",
            min=1,
            max=65535,
            help="Port of the LiteLLM proxy on 127.0.0.1; with --proxies N, instance i takes"
            " this port + i - 1.",
        ),
    ] = DEFAULT_PROXY_PORT,
    proxies: Annotated[
        int | None,
        typer.Option(
            "--proxies",
            envvar="BENCHCTL_PROXIES",
            min=1,
            max=64,
            help="How many LiteLLM proxy instances to run, on one LiteLLM database, sharing"
            " budgets, rate limits and key revocations through a Redis (`redis-server` on"
            " PATH) that `up` starts with them. Each session's env points at one instance,"
            " chosen by its id. Default: as many as run now, else 1.",
            show_default=False,
        ),
    ] = None,
    redis_port: Annotated[
        int,
        typer.Option(
            "--redis-port",
            envvar="BENCHCTL_REDIS_PORT",
            min=1,
            max=65535,
            help="Port of the stack's Redis on 127.0.0.1 (started with --proxies 2 or more).",
        ),
    ] = DEFAULT_REDIS_PORT,
    prometheus_port: Annotated[
        int,
        typer.Option(
            "--prometheus-port",
            envvar="BENCHCTL_PROMETHEUS_PORT",
            min=1,
            max=65535,
            help="Port of Prometheus on 127.0.0.1 (when the `prometheus` binary is on PATH).",
        ),
    ] = DEFAULT_PROMETHEUS_PORT,
    sim_port: Annotated[
        int | None,
        typer.Option(
            "--sim-port",
            envvar="BENCHCTL_SIM_PORT",
            min=1,
            max=65535,
            help="Port of the simulated provider. Default: the port of its api_base"
            " (providers/sim.yaml: 8799).",
            show_default=False,
        ),
    ] = None,
    sim_speed: Annotated[
        float,
        typer.Option(
            "--sim-speed",
            min=0.001,
            help="Divide the simulator's delays by this (10: ten times faster); usage and"
            " errors are unchanged. Applies when the simulator starts.",
        ),
    ] = 1.0,
    restart_proxy: Annotated[
        bool,
        typer.Option(
            "--restart-proxy",
            help="Render the LiteLLM config from the manifests again and restart the proxy"
            " (after adding or changing variants).",
        ),
    ] = False,
) -> None:
    """Start the local stack: what is not running yet, in order, each until healthy.

    1. the embedded PostgreSQL under .benchctl/ (skipped when BENCHCTL_DATABASE_URL is set);
    2. the simulated provider (`benchctl sim`) on its api_base's port;
    3. with --proxies 2 or more, Redis (`redis-server`, in memory only) for the instances;
    4. the LiteLLM proxy, with its own database `litellm` on that server and its config
       rendered from the manifests into .benchctl/stack/litellm.yaml; with --proxies N,
       N instances on consecutive ports, on that one database, with LiteLLM's
       multi-instance Redis settings (docs/operations.md, "Scaling out");
    5. Prometheus scraping every proxy instance, when `prometheus` is on PATH.

    A master key is generated once into .benchctl/stack/master.key (mode 0600, never
    printed). Afterwards plan, apply and the other commands find the proxy, its key and its
    database by themselves: no exports needed. Running `up` again starts only what stopped.
    Where Prisma's engines cannot be downloaded, set BENCHCTL_LITELLM_PREPARE (see
    docs/operations.md).

    Examples:

      benchctl up

      benchctl up --sim-speed 10 --proxy-port 4001

      benchctl up --restart-proxy      # after changing variants

      benchctl up --proxies 2 --restart-proxy   # two instances and Redis
    """
    extras.require("proxy", "up")
    from rich.console import Console

    from benchctl.manifests.loader import load_valid_repository
    from benchctl.settings import Settings
    from benchctl.stack import StackOptions
    from benchctl.stack import up as stack_up

    repository = load_valid_repository(root)
    settings = Settings.from_env(root)
    err = Console(stderr=True, soft_wrap=True)
    options = StackOptions(
        proxy_port=proxy_port,
        prometheus_port=prometheus_port,
        sim_port=sim_port,
        sim_speed=sim_speed,
        restart_proxy=restart_proxy,
        proxies=proxies,
        redis_port=redis_port,
    )
    with err.status("starting the local stack") as status:
        result = stack_up(settings, repository, options=options, progress=_progress(status, err))
    _render(result, Console(soft_wrap=True))


def down(root: Root = Path()) -> None:
    """Stop what `benchctl up` started, and the embedded PostgreSQL, and nothing else.

    Parts stop in reverse order (Prometheus, proxy instances, Redis, simulator, PostgreSQL),
    each with every process of its group (the proxy's query-engine child too). A pid is
    signalled only if it is still the process `up` started (same start time and command
    line). The embedded PostgreSQL stops too, whichever command started it (`benchctl db
    stop` stops it alone).
    Data, logs and the master key stay in .benchctl/.

    Example:

      benchctl down
    """
    from rich.console import Console

    from benchctl.settings import Settings
    from benchctl.stack import down as stack_down

    settings = Settings.from_env(root)
    err = Console(stderr=True, soft_wrap=True)
    with err.status("stopping the local stack") as status:
        stopped = stack_down(settings, progress=_progress(status, err))
    typer.echo(f"Stopped {len(stopped)} part(s){': ' + ', '.join(stopped) if stopped else ''}.")


def status(
    root: Root = Path(),
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Show each part of the local stack: URL, pid, and whether it is healthy.

    Health is probed, not assumed: PostgreSQL answers a query, the simulator its /health,
    Redis a PING, each proxy instance /health/readiness with its database connected,
    Prometheus /-/ready.

    Exit codes: 0 every recorded part is healthy (or nothing was started), 1 a part is down.

    Examples:

      benchctl status

      benchctl status --json | jq '.parts[] | select(.healthy | not)'
    """
    from rich.console import Console

    from benchctl.settings import Settings
    from benchctl.stack import status as stack_status

    result = stack_status(Settings.from_env(root))
    if as_json:
        payload = {"healthy": result.healthy, **asdict(result)}
        typer.echo(json.dumps(payload, indent=2))
    else:
        _render(result, Console(soft_wrap=True))
    if not result.healthy:
        raise typer.Exit(1)


def _render(result: StackStatus, console: Console) -> None:
    """One line per part, never truncated: URLs and paths must stay copyable."""
    from rich.markup import escape

    width = max((len(part.name) for part in result.parts), default=0)
    for part in result.parts:
        health = part.detail if part.action is None else f"{part.detail} ({part.action})"
        pid = f"pid {part.pid}" if part.pid else "no pid"
        line = f"{_ICON[part.healthy]} {escape(part.name.ljust(width))}  {escape(part.url)}"
        line += f"  {pid}  {escape(health)}"
        if not part.healthy and part.log_path:
            line += f"\n    log: {escape(part.log_path)}"
        console.print(line, highlight=False)
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
