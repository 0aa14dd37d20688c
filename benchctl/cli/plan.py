"""``benchctl plan``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from benchctl.cli.options import Root
from benchctl.errors import BenchctlError, UsageError

# Core modules are imported where used: every command, even --help, imports this module.


def plan(
    root: Root = Path(),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan as JSON (with format_version).")
    ] = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print Markdown for a PR comment, summary first.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Also save the plan to FILE; `benchctl apply FILE` applies exactly it.",
            dir_okay=False,
        ),
    ] = None,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode", help="Exit 0 when nothing changes, 2 when changes are planned."
        ),
    ] = False,
) -> None:
    """Show what `benchctl apply` would change, and why.

    Compares the manifests with the benchmark database and the LiteLLM proxy's session keys
    (read in bulk, read-only): objects to add (+), change in place (~), replace with a new
    version (-/+) or retire (-); sessions to open, finalize or abort; drift to repair (!).

    Exit codes: 0 success (with --detailed-exitcode: no changes), 1 error,
    2 changes present (with --detailed-exitcode).

    Examples:

      benchctl plan

      benchctl plan --out plan.json && benchctl apply plan.json

      benchctl plan --markdown > comment.md     # for a pull request
    """
    from rich.console import Console

    from benchctl.reconcile.engine import make_plan
    from benchctl.render.plan import to_json, to_markdown, to_text
    from benchctl.settings import Settings

    try:
        if as_json and markdown:
            raise UsageError("choose one of --json and --markdown.")
        result = make_plan(Settings.from_env(root))
    except UsageError as exc:
        if detailed_exitcode:  # 2 means "changes present" here; errors must not look like it
            raise BenchctlError(str(exc)) from None
        raise
    if out is not None:
        out.write_text(to_json(result), encoding="utf-8")
    if as_json:
        typer.echo(to_json(result), nl=False)
    elif markdown:
        typer.echo(to_markdown(result), nl=False)
    else:
        console = Console(soft_wrap=True)
        to_text(result, console)
        if out is not None:
            console.print(f"Saved the plan to {out}; apply exactly it with `benchctl apply {out}`.")
    if detailed_exitcode and result.summary.changes:
        raise typer.Exit(2)
