"""``benchctl demo``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from benchctl import extras
from benchctl.cli.options import Root
from benchctl.demo import DEFAULT_SIM_SPEED
from benchctl.errors import UsageError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from benchctl.demo.run import Step
    from benchctl.report.model import Report

# Core modules are imported where used: every command, even --help, imports this module, and
# benchctl.demo.run needs the proxy extra, so it is imported once that is checked.

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
    LiteLLM proxy; applies the demo experiment run headless (4 variants x 3 task cards
    x 2 replicates, each session with its own scoped key); runs the grid as
    `benchctl run demo -j 6` does: the SDK script harness edits each task's workspace
    through the OpenAI or Anthropic SDK, streaming, and the task's verifier scores what
    it wrote; collects what the proxy logged; and writes artifacts/demo/ (README.md,
    report.json, charts, and the raw data under data/). No provider key and no network
    are needed.

    Needs the proxy extra: pip install 'benchctl[proxy]'. On a machine that cannot
    download Prisma's engines, set BENCHCTL_LITELLM_PREPARE (docs/operations.md).

    Examples:

        benchctl demo

        benchctl demo --sim-speed 5 --keep-running
    """
    if not sim_speed > 0:
        raise UsageError(f"--sim-speed must be a positive number, not {sim_speed}.")
    extras.require("proxy", "demo")
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Column

    from benchctl.demo.run import DemoOptions, run

    os.environ.setdefault("BENCHCTL_OPERATOR", DEMO_OPERATOR)
    options = DemoOptions(
        root=root,
        out_dir=out if out is not None else root / "artifacts",
        sim_speed=sim_speed,
        keep_running=keep_running,
    )
    # The time first: a narrow terminal or a CI log (80 columns) cuts the end of a line.
    with Progress(
        SpinnerColumn(finished_text="[green]✓[/green]"),
        # Never squeezed: the time is what a finished phase leaves on screen.
        TimeElapsedColumn(table_column=Column(min_width=7, no_wrap=True)),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[count]}", style="bold"),
        TextColumn("{task.fields[detail]}", style="dim"),
        console=Console(stderr=True, highlight=False),
    ) as progress:
        phases = _Phases(progress)
        result = run(options, on_step=phases)
        phases.finish()  # on failure the phase that failed keeps its spinner, not a tick
    outcomes = ", ".join(f"{n} {name}" for name, n in sorted(result.outcomes.items()))
    typer.echo(
        f"Drove {result.sessions} sessions ({outcomes}); {result.requests_collected} of"
        f" {result.requests_sent} requests collected."
    )
    report = result.report
    state = "updated" if report.changed else "unchanged"
    typer.echo(f"Report {state}: {report.directory / 'README.md'}\n")
    _headline(report.report)
    if result.requests_collected < result.requests_sent:
        raise typer.Exit(1)


class _Phases:
    """The demo's steps as rich progress: one line per phase, left on screen with its time
    when the next phase begins; the phase under way shows its detail and its count."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.phase: str | None = None
        self.task: TaskID | None = None

    def __call__(self, step: Step) -> None:
        from rich.markup import escape

        if step.phase != self.phase:
            self.finish()
            self.phase = step.phase
            self.task = self.progress.add_task(step.phase, total=None, count="", detail="")
        assert self.task is not None
        count = f"{step.done}/{step.total}" if step.total is not None else ""
        self.progress.update(self.task, count=count, detail=escape(step.detail))

    def finish(self) -> None:
        # A finished task stops its clock; the detail of the moment goes, the count stays.
        if self.task is not None:
            self.progress.update(self.task, total=1, completed=1, detail="")


def _headline(report: Report) -> None:
    """The report's verdicts, one metric a line, instead of its one-sentence headline."""
    from benchctl.report.build import scope, verdicts

    typer.echo(f"{scope(report.experiment, report.totals)}; baseline {report.baseline}")
    found = verdicts(report.summary, report.baseline)
    width = max(len(title) for title, _ in found)
    for title, verdict in found:
        typer.echo(f"  {title:<{width}}  {verdict}")
