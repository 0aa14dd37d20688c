"""``benchctl schemas``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# Core modules are imported where used: every command, even --help, imports this module.


def schemas(
    out: Annotated[Path, typer.Option("--out", help="Folder of the schema files.")] = Path(
        "schemas"
    ),
    check: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; exit 1 if any schema is missing or stale."),
    ] = False,
) -> None:
    """Generate the JSON Schemas of every manifest kind from the models.

    Commit the result: each manifest's `# yaml-language-server: $schema=...` modeline points
    editors at these files. `--check` is what CI and pre-commit run.
    """
    from benchctl.manifests.schemas import stale_schemas, write_schemas

    if check:
        stale = stale_schemas(out)
        for name in stale:
            typer.echo(f"{out / name} is out of date with the models", err=True)
        if stale:
            typer.echo("Run `benchctl schemas` and commit the result.", err=True)
            raise typer.Exit(1)
        typer.echo(f"Schemas in {out}/ are up to date.")
        return
    written = write_schemas(out)
    for name in written:
        typer.echo(f"wrote {out / name}")
    typer.echo(f"{len(written)} schema file(s) written, the rest unchanged.")
