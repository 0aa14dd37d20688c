"""``benchctl db``: the benchmark database's schema."""

from __future__ import annotations

from pathlib import Path

import typer

from benchctl.cli.options import Root

# Core modules are imported where used: every command, even --help, imports this module.

db_app = typer.Typer(
    help="The benchmark database: where it is, its schema version, and stopping the embedded one.",
    no_args_is_help=True,
)


@db_app.command("upgrade")
def upgrade(root: Root = Path()) -> None:
    """Apply pending schema migrations (safe to run any time; does nothing when current).

    The embedded database is upgraded automatically; a shared server named by
    BENCHCTL_DATABASE_URL is upgraded only by this command or by `benchctl apply`.
    """
    from benchctl.db import migrate
    from benchctl.db.connection import open_connection
    from benchctl.settings import Settings

    settings = Settings.from_env(root)
    with open_connection(settings) as conn:
        applied = migrate.upgrade(conn)
    for migration in applied:
        typer.echo(f"applied {migration.version:04d}_{migration.name}")
    latest = migrate.available()[-1]
    typer.echo(f"database schema at {latest.version:04d}_{latest.name} ({len(applied)} applied)")


@db_app.command("url")
def url(root: Root = Path()) -> None:
    """Print the benchmark database's URL (password hidden), starting the embedded one."""
    from benchctl.db.connection import database_url
    from benchctl.settings import Settings, redact_dsn

    typer.echo(redact_dsn(database_url(Settings.from_env(root))))


@db_app.command("stop")
def stop(root: Root = Path()) -> None:
    """Stop the embedded PostgreSQL under .benchctl/ (any command that needs it starts it again).

    Commands that need the database start the embedded server on first use and leave it
    running, so the next one starts in milliseconds; `benchctl status` shows it. This stops
    it alone; `benchctl down` stops it with the rest of the local stack. The data stays in
    .benchctl/pgdata/.
    """
    from benchctl.settings import Settings
    from benchctl.stack.control import stop_database

    if stop_database(Settings.from_env(root)):
        typer.echo("Stopped the embedded PostgreSQL; its data stays in .benchctl/pgdata/.")
    else:
        typer.echo("The embedded PostgreSQL is not running.")
