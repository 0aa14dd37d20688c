"""``benchctl apply``."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from benchctl.cli.options import LockTimeout, Root, seconds

if TYPE_CHECKING:
    from benchctl.reconcile.plan import Action, Plan

# Core modules are imported where used: every command, even --help, imports this module.


def apply(
    plan_file: Annotated[
        Path | None,
        typer.Argument(
            help="A plan saved by `benchctl plan --out`; applied exactly, or refused if stale.",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    root: Root = Path(),
    auto_approve: Annotated[
        bool, typer.Option("--auto-approve", help="Apply without asking (for scripts and CI).")
    ] = False,
    lock_timeout: LockTimeout = "0s",
) -> None:
    """Make the database and the proxy match the manifests.

    Without FILE, plans afresh, shows the plan and asks for `yes` (unless --auto-approve).
    With FILE, applies exactly that saved plan, and refuses it if anything changed since it
    was made. One apply runs at a time (see `benchctl force-unlock`).

    Opening a session creates its row, then a LiteLLM key scoped to the variant's model alias
    with the experiment's TTL and budget, then writes the harness env file (mode 0600) under
    .benchctl/sessions/. Keys are never printed.

    Examples:

      benchctl apply

      benchctl apply --auto-approve --lock-timeout 5m

      benchctl plan --out plan.json && benchctl apply plan.json
    """
    from rich.console import Console
    from rich.markup import escape

    from benchctl.reconcile.engine import ApplyRequest
    from benchctl.reconcile.engine import apply as run_apply
    from benchctl.render.plan import summary_line, to_text
    from benchctl.render.text import printable
    from benchctl.settings import Settings

    console = Console(soft_wrap=True)

    def confirm(plan: Plan) -> bool:
        to_text(plan, console)
        if auto_approve:
            return True
        answer = typer.prompt(
            "\nApply these changes? Only 'yes' is accepted", default="", show_default=False
        )
        if answer.strip() != "yes":
            console.print("Apply cancelled; nothing was changed.")
            return False
        return True

    def progress(action: Action) -> None:
        console.print(
            f"  [green]done[/green] {action.symbol:>3} {action.kind}"
            f" {escape(printable(action.name))}"
        )

    outcome = run_apply(
        ApplyRequest(
            settings=Settings.from_env(root),
            plan_file=plan_file,
            lock_timeout=seconds(lock_timeout, "--lock-timeout"),
            confirm=confirm,
            on_action=progress,
        )
    )
    if not outcome.plan.summary.changes:
        if outcome.plan.config_drift is not None:  # nothing to apply, but the proxy lags
            to_text(outcome.plan, console)
        else:
            console.print(summary_line(outcome.plan))
        return
    if outcome.result is None:
        return
    console.print(f"\n[bold]Apply complete: {outcome.result.done} action(s).[/bold]")
    for opened in outcome.result.opened:
        console.print(
            f"\nSession {escape(printable(opened.label))} is open (id {opened.session_id})."
            f"\n  Its env file holds the session key (mode 0600): {opened.env_file}"
            f"\n  Start the harness in the task's checkout:"
            # Absolute: the command runs in the task's checkout, not in this repository.
            f"\n    source {escape(shlex.quote(str(opened.env_file.absolute())))}"
            f" && {escape(printable(opened.command))}"
        )
