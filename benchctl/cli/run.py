"""``benchctl run``: execute an experiment's open headless sessions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from benchctl.cli.options import Root, Sandbox, SandboxOption

if TYPE_CHECKING:
    from benchctl.runs.runner import Event

# Core modules are imported where used: every command, even --help, imports this module.


def run(
    experiment: Annotated[str, typer.Argument(help="Experiment whose headless grid to run.")],
    root: Root = Path(),
    session: Annotated[
        list[str] | None,
        typer.Option("--session", help="Only this session (id or 4+ character prefix); repeat."),
    ] = None,
    jobs: Annotated[
        int, typer.Option("-j", "--jobs", min=1, max=64, help="Sessions run at once.")
    ] = 1,
    sandbox: SandboxOption = Sandbox.auto,
    lease: Annotated[
        float,
        typer.Option(
            "--lease",
            min=3,
            metavar="SECONDS",
            help="How long a session stays this runner's without a heartbeat (renewed every"
            " third of it); a killed runner's sessions return to the pool after it.",
        ),
    ] = 120.0,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON summary, for CI.")] = False,
) -> None:
    """Run an experiment's open headless sessions (`spec.headless`), then stop.

    Each session gets a fresh workspace under `.benchctl/runs/`, its task's setup, a key of its
    own, and its harness launched from its profile with a built environment, time-boxed by the
    task card. Then the task's verifier scores the workspace and the session is finalized with
    the verified outcome, its key deleted. Any number of `benchctl run` processes, on any
    number of hosts sharing the database and proxy, split the grid between them.

    Ctrl-C (or SIGTERM) once: lease no more sessions and finish the running ones. Twice: stop
    now; the running sessions' leases lapse and the next run retries them.
    """
    import contextlib
    import os
    import signal

    from rich.console import Console
    from rich.live import Live
    from rich.markup import escape

    from benchctl.render.runs import RunBoard
    from benchctl.runs.runner import RunOptions
    from benchctl.runs.runner import run as run_sessions
    from benchctl.settings import Settings

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    options = RunOptions(
        experiment=experiment, sessions=tuple(session or ()), workers=jobs,
        sandbox=sandbox.value, lease_s=lease,
    )  # fmt: skip

    board = RunBoard()

    def on_event(event: Event) -> None:
        if live is None:
            err.print(escape(str(event)))
        else:
            board.update(event)

    def interrupted(signum: int, frame: object) -> None:
        if options.stop.is_set():
            err.print("Stopped; the running sessions return to the pool when their leases lapse.")
            os._exit(130)
        options.stop.set()
        err.print("Finishing the running sessions, leasing no more (again to stop now).")

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    # A live board on a terminal; a line per event in CI logs and pipes.
    live = Live(board, console=err, refresh_per_second=2) if err.is_terminal else None
    with live or contextlib.nullcontext():
        results = run_sessions(Settings.from_env(root), options, on_event)
    counts = {
        s: sum(1 for r in results if r.status == s) for s in ("scored", "unscored", "infra_error")
    }
    if as_json:
        typer.echo(json.dumps({"experiment": experiment, **counts, "attempts": [
            {"session_id": r.session_id, "label": r.label, "status": r.status,
             "outcome": r.outcome, "reward": r.reward, "error": r.error} for r in results
        ]}, indent=2))  # fmt: skip
    else:
        typer.echo(
            f"Ran {len(results)} attempt(s) of {experiment}: {counts['scored']} scored,"
            f" {counts['unscored']} unscored, {counts['infra_error']} infrastructure failure(s)."
        )
    raise typer.Exit(1 if counts["infra_error"] and not counts["scored"] else 0)
