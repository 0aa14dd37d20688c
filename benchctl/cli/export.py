"""``benchctl export`` and ``benchctl import``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from benchctl.cli.options import Root
from benchctl.export import Format

# Core modules are imported where used: every command, even --help, imports this module.


def export(
    experiment: Annotated[
        str, typer.Argument(help="Experiment to export (its metadata.name).", show_default=False)
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder to write the bundle into (created if missing).",
            file_okay=False,
            show_default=False,
        ),
    ],
    fmt: Annotated[
        Format,
        typer.Option("--format", help="jsonl (one JSON object per line) or csv (with a header)."),
    ] = "jsonl",
    root: Root = Path(),
) -> None:
    """Export an experiment's raw data for offline analysis.

    Writes requests, sessions, session_rollups and rollups as JSON Lines or CSV, plus
    manifests.json: the experiment, variant, task card, provider and harness profile documents
    as the database stored them when they were applied. Rows are in a fixed order and
    timestamps in UTC, so the same data exports to the same bytes. Key hashes are left out.

    Examples:

      benchctl export demo --out exports/demo

      benchctl export demo --format csv --out /tmp/demo-csv
    """
    from benchctl.db.connection import connect
    from benchctl.export.bundle import export_experiment
    from benchctl.settings import Settings

    with connect(Settings.from_env(root), upgrade=False) as conn:
        result = export_experiment(conn, experiment, out, fmt)
    for name, rows in result.files.items():
        typer.echo(f"wrote {result.directory / name} ({rows:,} rows)")


def import_bundle(
    bundle: Annotated[
        Path,
        typer.Argument(
            help="Folder of a bundle written by `benchctl export --format csv`.",
            exists=True,
            file_okay=False,
            show_default=False,
        ),
    ],
    root: Root = Path(),
) -> None:
    """Load an exported CSV bundle into the benchmark database, for analysis or reports.

    Restores the bundle's manifests, sessions and requests in one transaction, into a
    database that does not have its experiment yet (point BENCHCTL_DATABASE_URL at a
    scratch one). `benchctl report` then writes the same report as the one made from the
    original data, byte for byte.

    Examples:

      BENCHCTL_DATABASE_URL=postgresql:///scratch benchctl import artifacts/demo/data

      benchctl report demo --out /tmp/reports
    """
    from benchctl.db.connection import connect
    from benchctl.export.restore import restore_bundle
    from benchctl.settings import Settings

    with connect(Settings.from_env(root), upgrade=True) as conn:
        experiment = restore_bundle(conn, bundle)
    typer.echo(f"imported experiment {experiment} from {bundle}")
