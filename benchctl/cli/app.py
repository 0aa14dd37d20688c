"""The ``benchctl`` command."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console

from benchctl import __version__
from benchctl.cli import schemas, validate
from benchctl.errors import BenchctlError

P = ParamSpec("P")
R = TypeVar("R")

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


def command(func: Callable[P, R]) -> Callable[P, R]:
    """Print a BenchctlError as one line on stderr and exit with its code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except BenchctlError as exc:
            Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


app.command("validate")(command(validate.validate))
app.command("schemas")(command(schemas.schemas))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"benchctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Declarative GitOps benchmarking of LLM providers, models and harnesses."""


def main() -> None:
    app()
