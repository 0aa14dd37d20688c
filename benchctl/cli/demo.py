"""``benchctl demo``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from benchctl import extras
from benchctl.cli.options import Root
from benchctl.demo import DEFAULT_SIM_SPEED
from benchctl.errors import UsageError

# Committed demo data names no person: the sessions' operator is the demo itself.
DEMO_OPERATOR = "benchctl demo"


def demo(
    root: Root = Path(),
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder the report is written under, as OUT/demo/. Default: ROOT/artifacts.",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    sim_speed: Annotated[
        float,
        typer.Option(
            "--sim-speed",
            help="Divide the simulated providers' delays by this, so the demo takes a minute"
            " instead of twenty. 1 is the manifests' real time.",
        ),
    ] = DEFAULT_SIM_SPEED,
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running",
            help="Leave the demo's stack up afterwards, to look around with"
            " `benchctl status --root .benchctl/demo`.",
        ),
    ] = False,
) -> None:
    """Run the whole loop offline on the simulated providers, and write the demo report.

    In a scratch copy of the manifests (.benchctl/demo/, with its own embedded database
    and stack on free ports), it starts PostgreSQL, the simulated provider and the
    LiteLLM proxy; applies the demo experiment (4 variants x 3 task cards x 2
    replicates, each session with its own scoped key); drives every session with a
    scripted harness that reads only the session's env file and calls the proxy
    through the OpenAI or Anthropic SDK, streaming; finalizes the sessions; collects
    what the proxy logged; and writes artifacts/demo/ (README.md, report.json, charts,
    and the raw data under data/). No provider key and no network are needed.

    Needs the proxy extra: pip install 'benchctl[proxy]'. On a machine that cannot
    download Prisma's engines, set BENCHCTL_LITELLM_PREPARE (docs/operations.md).

    Examples:

        benchctl demo

        benchctl demo --sim-speed 5 --keep-running
    """
    if not sim_speed > 0:
        raise UsageError(f"--sim-speed must be a positive number, not {sim_speed}.")
    extras.require("proxy", "demo")
    from benchctl.demo.run import DemoOptions, run

    err = Console(stderr=True, highlight=False)
    os.environ.setdefault("BENCHCTL_OPERATOR", DEMO_OPERATOR)
    options = DemoOptions(
        root=root,
        out_dir=out if out is not None else root / "artifacts",
        sim_speed=sim_speed,
        keep_running=keep_running,
    )
    with err.status("starting") as status:
        result = run(options, on_step=lambda step: status.update(step))
    outcomes = ", ".join(f"{n} {name}" for name, n in sorted(result.outcomes.items()))
    typer.echo(
        f"Drove {result.sessions} sessions ({outcomes}); {result.requests_collected} of"
        f" {result.requests_sent} requests collected."
    )
    report = result.report
    state = "updated" if report.changed else "unchanged"
    typer.echo(f"Report {state}: {report.directory / 'README.md'}")
    typer.echo(report.headline)
    if result.requests_collected < result.requests_sent:
        raise typer.Exit(1)
