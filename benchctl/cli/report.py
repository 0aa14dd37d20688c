"""``benchctl report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from benchctl.cli.options import Root
from benchctl.errors import UsageError

# Core modules are imported where used: every command, even --help, imports this module.


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def report(
    experiment: Annotated[
        str | None,
        typer.Argument(help="Experiment to report on (its metadata.name).", show_default=False),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Report on every experiment in the database.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Write nothing; exit 1 if any report file is missing or stale."
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder of the reports, one subfolder per experiment. Default: ROOT/artifacts.",
            file_okay=False,
        ),
    ] = None,
    root: Root = Path(),
) -> None:
    """Write an experiment's comparison report: README.md, report.json and charts/*.svg.

    The report says which variant wins on which metric against the experiment's baseline
    (success rate, latency, time to first token, output tokens/s, cost per successful task),
    by how much, and with what 95% interval, or that there is not enough data yet. It reads
    only the benchmark database (run `benchctl collect` first). The same data always gives
    the same bytes, so a scheduled job commits only when results changed.

    Examples:

      benchctl report demo                  # writes artifacts/demo/

      benchctl report --all --check         # CI: exit 1 if a committed report is stale

      benchctl report demo --out /tmp/reports
    """
    from benchctl.db.connection import connect
    from benchctl.report.data import experiment_names
    from benchctl.report.writer import check_report, write_report
    from benchctl.settings import Settings

    if (experiment is None) == (not all_):
        raise UsageError("name one experiment, or pass --all (not both).")
    settings = Settings.from_env(root)
    out_dir = out if out is not None else root / "artifacts"
    stale_found = False
    with connect(settings, upgrade=False) as conn:
        names = experiment_names(conn) if all_ else [experiment or ""]
        if not names:
            typer.echo("No experiment in the benchmark database yet; `benchctl apply` first.")
            return
        for name in names:
            if check:
                result = check_report(conn, name, out_dir)
                where = _shown(result.directory)
                for rel in result.written:
                    typer.echo(f"{where}/{rel} is missing or out of date", err=True)
                for rel in result.removed:
                    typer.echo(f"{where}/{rel} should no longer exist", err=True)
                if result.changed:
                    stale_found = True
                else:
                    typer.echo(f"{where}/ is up to date.")
                continue
            result = write_report(conn, name, out_dir)
            where = _shown(result.directory)
            if result.changed:
                changes = len(result.written) + len(result.removed)
                typer.echo(f"Wrote {where}/ ({changes} file(s) changed).")
            else:
                typer.echo(f"{where}/ is up to date.")
            typer.echo(f"  {result.headline}")
    if stale_found:
        command = "benchctl report --all" if all_ else f"benchctl report {experiment}"
        typer.echo(f"Run `{command}` and commit the result.", err=True)
        raise typer.Exit(1)
