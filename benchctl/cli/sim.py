"""``benchctl sim``."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

from benchctl.errors import UsageError

if TYPE_CHECKING:
    from benchctl.manifests.models import Provider

# Core modules are imported where used: every command, even --help, imports this module.

DEFAULT_PORT = 8799


def sim(
    root: Annotated[
        Path,
        typer.Option(
            "--root", help="Repository whose providers/ holds the provider.", file_okay=False
        ),
    ] = Path(),
    provider: Annotated[
        str, typer.Option("--provider", help="Name of a provider with `simulator:`.")
    ] = "sim",
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=0,
            max=65535,
            help="Port to listen on; 0 picks a free one. Default: the port of the provider's"
            f" api_base, else {DEFAULT_PORT}.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="Seed of every draw. Default: the provider's simulator.seed.",
            show_default=False,
        ),
    ] = None,
    speed: Annotated[
        float,
        typer.Option("--speed", help="Divide every simulated delay by this; usage is unchanged."),
    ] = 1.0,
) -> None:
    """Serve a simulated provider: OpenAI chat completions and responses, Anthropic messages.

    Each model answers with the time to first token, tokens per second, length,
    cache share and injected errors of its `simulate:` block, streaming or not.
    The same seed and the same sequence of requests give the same outcomes.
    Serves until Ctrl-C or SIGTERM.

    Examples:

      benchctl sim                       # providers/sim.yaml, its api_base port

      benchctl sim --speed 10 --port 0   # ten times faster, on any free port
    """
    from benchctl.sim.server import SimServer
    from benchctl.sim.work import load_solutions

    manifest = _provider(root, provider)
    if port is None:
        api_base = manifest.spec.api_base
        port = (urlsplit(api_base).port if api_base else None) or DEFAULT_PORT
    solutions, problems = load_solutions(root)
    for problem in problems:
        typer.echo(f"warning: {problem}", err=True)
    server = SimServer(manifest, host=host, port=port, seed=seed, speed=speed, solutions=solutions)
    count = len(server.models)
    typer.echo(
        f"sim provider {provider!r} listening on {server.url}"
        f" ({count} model{'' if count == 1 else 's'}, seed {server.seed})"
    )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)


def _provider(root: Path, name: str) -> Provider:
    from benchctl.manifests.loader import load_repository

    repository = load_repository(root).repository
    loaded = repository.providers.get(name)
    if loaded is not None:
        return loaded.model
    if ("Provider", name) in repository.invalid:
        raise UsageError(
            f"provider {name!r} has manifest errors; run `benchctl validate --root {root}`"
            " and fix them first."
        )
    simulated = sorted(
        other for other, found in repository.providers.items() if found.model.spec.simulator
    )
    hint = (
        f"Simulated providers there: {', '.join(simulated)}."
        if simulated
        else "Run benchctl from the repository root or pass --root."
    )
    raise UsageError(f"no provider {name!r} in {root / 'providers'}/. {hint}")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """Let SIGTERM stop the server the way Ctrl-C does."""
    raise KeyboardInterrupt
