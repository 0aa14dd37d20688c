"""The ``benchctl`` command."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from benchctl import __version__
from benchctl.cli import schemas, validate
from benchctl.errors import BenchctlError

app = typer.Typer(
    name="benchctl",
    help=(
        "Declarative GitOps benchmarking of LLM providers, models and coding-agent harnesses"
        " through a LiteLLM proxy.\n\n"
        "Manifests live in providers/, harness_profiles/, variants/, task_cards/ and"
        " experiments/. Start with `benchctl validate`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("validate")(validate.validate)
app.command("schemas")(schemas.schemas)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"benchctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Declarative GitOps benchmarking of LLM providers, models and harnesses."""


def main() -> None:
    try:
        app()
    except BenchctlError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(exc.exit_code)
