"""The ``benchctl`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from benchctl import __version__
from benchctl.cli import (
    apply,
    collect,
    db,
    demo,
    export,
    plan,
    render,
    report,
    run,
    schemas,
    serve,
    session,
    sim,
    stack,
    task,
    unlock,
    validate,
)
from benchctl.errors import BenchctlError

# rich and the core are imported where used: every command, even --version, imports this module.


class _Group(TyperGroup):
    """Prints a BenchctlError as one line on stderr and exits with its code, never a traceback.

    Catching here, around the whole command tree, covers every subcommand at once.
    """

    # Set by main(): the `benchctl` command announces an embedded PostgreSQL it starts, while
    # tests and library users of `app` hear nothing. Hooked only once a subcommand runs: that
    # imports the database driver, which `benchctl --version` and `benchctl --help` do without.
    announce_database = False

    def invoke(self, ctx: Any) -> Any:  # typer vendors click; its Context is private
        if self.announce_database:
            from benchctl.db import embedded

            embedded.on_started = _announce_database
        try:
            return super().invoke(ctx)
        except BenchctlError as exc:
            from rich.console import Console
            from rich.markup import escape

            from benchctl.render.text import printable

            message = f"[red]error:[/red] {escape(printable(str(exc)))}"
            Console(stderr=True, soft_wrap=True).print(message, highlight=False)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    name="benchctl",
    cls=_Group,
    help=(
        "Declarative GitOps benchmarking of LLM providers, models and coding-agent harnesses"
        " through a LiteLLM proxy.\n\n"
        "Manifests live in providers/, harness_profiles/, variants/, task_cards/ and"
        " experiments/. Start with `benchctl validate`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Docstrings are hard-wrapped Markdown: paragraphs re-flow to the terminal's width, lists
    # and indented examples keep their lines, and [brackets] stay text.
    rich_markup_mode="markdown",
)


app.command("demo")(demo.demo)
app.command("validate")(validate.validate)
app.command("plan")(plan.plan)
app.command("apply")(apply.apply)
app.command("force-unlock")(unlock.force_unlock)
app.command("schemas")(schemas.schemas)
app.command("sim")(sim.sim)
app.command("collect")(collect.collect)
app.command("purge-content")(collect.purge_content)
app.command("up")(stack.up)
app.command("down")(stack.down)
app.command("status")(stack.status)
app.command("report")(report.report)
app.command("serve")(serve.serve)
app.command("run")(run.run)
app.command("export")(export.export)
app.command("import")(export.import_bundle)
app.add_typer(session.session_app, name="session")
app.add_typer(task.task_app, name="task")
app.add_typer(db.db_app, name="db")
app.add_typer(render.render_app, name="render")


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


def _announce_database(data: Path) -> None:
    # stderr: stdout may be a plan or JSON that a script reads.
    typer.echo(
        f"benchctl: started the embedded PostgreSQL in {data}; it keeps running for the next"
        " command (`benchctl status` shows it, `benchctl db stop` stops it).",
        err=True,
    )


def main() -> None:
    _Group.announce_database = True
    app()
