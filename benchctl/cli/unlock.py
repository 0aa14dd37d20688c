"""``benchctl force-unlock``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from benchctl.cli.options import Root

# Core modules are imported where used: every command, even --help, imports this module.


def force_unlock(
    root: Root = Path(),
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Release the state lock held by another apply, by ending its database session.

    Only for a holder that is stuck (a hung process, a lost terminal): a holder that exits or
    is killed releases the lock by itself. The holder's in-flight step is rolled back, and the
    next plan shows what it left to do.
    """
    from benchctl.db.connection import connect
    from benchctl.reconcile.lock import current_holder
    from benchctl.reconcile.lock import force_unlock as release
    from benchctl.settings import Settings

    settings = Settings.from_env(root)
    with connect(settings, upgrade=False) as conn:
        found = current_holder(conn)
        if found is None:
            typer.echo("The state is not locked; nothing to do.")
            return
        typer.echo(f"The state is locked by {found.describe()}.")
        if not yes and not typer.confirm("End that session and release the lock?"):
            raise typer.Exit(1)
        release(conn)
    typer.echo("Lock released. Run `benchctl plan` to see what the holder left to do.")
