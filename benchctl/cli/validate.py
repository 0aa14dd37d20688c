"""``benchctl validate``."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from benchctl.errors import UsageError

# Core modules are imported where used: every command, even --help, imports this module.


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    github = "github"


def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Manifest files or folders to check. Default: every manifest under --root.",
            show_default=False,
        ),
    ] = None,
    root: Annotated[
        Path,
        typer.Option(
            "--root",
            help="Repository whose manifests references resolve against.",
            file_okay=False,
        ),
    ] = Path(),
    output: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format",
            help="text for people, json for machines, github for Actions annotations."
            " Default: github when GITHUB_ACTIONS=true, else text.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check manifests: YAML, schema, references, secrets and templates.

    Reports every problem at once as `path:line:col: CODE message`, with a hint.
    Exits 0 when all is valid, 1 when any error is found, 2 on bad usage.

    Examples:

      benchctl validate                        # the whole repository

      benchctl validate variants/new.yaml   # one file, references resolved repo-wide

      benchctl validate --format json | jq .diagnostics
    """
    from rich.console import Console

    from benchctl.manifests.loader import discover, load_repository
    from benchctl.manifests.models import FOLDER_KIND
    from benchctl.render.diagnostics import print_text, to_github, to_json

    for path in paths or []:
        if not path.exists():
            raise UsageError(f"{path} does not exist; give manifest files or folders.")
    if not paths and not discover(root):
        folders = ", ".join(f"{f}/" for f in FOLDER_KIND)
        raise UsageError(
            f"no manifests found under {root}: expected YAML files in {folders}."
            " Run benchctl from the repository root or pass --root."
        )
    result = load_repository(root, paths or None)
    if output is None:
        github = os.environ.get("GITHUB_ACTIONS") == "true"
        output = OutputFormat.github if github else OutputFormat.text
    if output is OutputFormat.json:
        typer.echo(to_json(result))
    elif output is OutputFormat.github:
        typer.echo(to_github(result))
    else:
        print_text(result, Console(soft_wrap=True))
    raise typer.Exit(0 if result.ok else 1)
