"""``benchctl session``: the operator's day with sessions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from benchctl.cli.options import LockTimeout, Root, seconds
from benchctl.errors import ManifestError, UsageError

# Core modules are imported where used: every command, even --help, imports this module.

session_app = typer.Typer(
    help="Sessions: list and inspect them, get a session's env again, rotate its key, and add"
    " or end session entries in an experiment's YAML (then plan and apply).",
    no_args_is_help=True,
)

SessionId = Annotated[str, typer.Argument(help="Session id, or its first 4+ characters.")]


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}


@session_app.command("list")
def list_(
    root: Root = Path(),
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="Only this experiment's sessions.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only sessions in this state (open, finalized, ...)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
) -> None:
    """List sessions with their state, outcome and key expiry."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from benchctl.reconcile import sessions
    from benchctl.render.text import printable
    from benchctl.settings import Settings

    rows = sessions.list_sessions(Settings.from_env(root), experiment=experiment, status=status)
    if as_json:
        typer.echo(json.dumps([_jsonable(r) for r in rows], indent=2))
        return
    table = Table("id", "experiment", "variant", "task card", "rep", "status", "outcome", "opened")
    for r in rows:
        opened = f"{r['opened_at']:%Y-%m-%d %H:%M}" if r["opened_at"] else ""
        cells = (
            r["id"][:8], r["experiment"], f"{r['variant']} v{r['variant_version']}",
            f"{r['task_card']} v{r['task_card_version']}", str(r["replicate"]), r["status"],
            r["outcome"] or "", opened,
        )  # fmt: skip
        table.add_row(*(escape(printable(cell)) for cell in cells))
    # Piped or redirected, rich would assume 80 columns and cut every cell: give the table room.
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 1_000)
    console.print(table if rows else "No sessions yet: add entries to an experiment and apply.")


@session_app.command("show")
def show(
    session_id: SessionId,
    root: Root = Path(),
    as_json: Annotated[bool, typer.Option("--json", help="As a JSON object.")] = False,
) -> None:
    """Everything recorded about one session (never its key, only the key's hash and alias)."""
    from benchctl.reconcile import sessions
    from benchctl.render.text import printable
    from benchctl.settings import Settings

    row = _jsonable(sessions.show(Settings.from_env(root), session_id))
    if as_json:
        typer.echo(json.dumps(row, indent=2))  # JSON escapes control characters itself
        return
    width = max(len(k) for k in row)
    for key, value in row.items():
        typer.echo(printable(f"{key:<{width}}  {'' if value is None else value}"))


@session_app.command("env")
def env(session_id: SessionId, root: Root = Path()) -> None:
    """Print the session's env snippet again, e.g. `eval "$(benchctl session env 1a2b)"`.

    The raw key lives only in .benchctl/sessions/ID.env; if that file is gone, the command
    says so and how to rotate the key.
    """
    from benchctl.reconcile import sessions
    from benchctl.settings import Settings

    typer.echo(sessions.env_snippet(Settings.from_env(root), session_id), nl=False)


@session_app.command("rotate")
def rotate(session_id: SessionId, root: Root = Path(), lock_timeout: LockTimeout = "0s") -> None:
    """Replace an open session's key (the old one stops working) and rewrite its env file."""
    from benchctl.reconcile import sessions
    from benchctl.settings import Settings

    done = sessions.rotate(
        Settings.from_env(root), session_id, seconds(lock_timeout, "--lock-timeout")
    )
    typer.echo(
        f"Session {done.session_id} has a new key. Load it in the harness's shell:\n"
        f"  source {done.issued.env_file} && {done.issued.command}"
    )


def _experiment_path(root: Path, experiment: str) -> Path:
    from benchctl.manifests.loader import load_repository

    result = load_repository(root)
    if not result.ok:
        raise ManifestError(result.errors)
    loaded = result.repository.experiments.get(experiment)
    if loaded is None:
        known = ", ".join(sorted(result.repository.experiments)) or "none"
        raise UsageError(f"no experiment named {experiment!r}; known: {known}.")
    return loaded.path


@session_app.command("add")
def add(
    experiment: Annotated[str, typer.Argument(help="Experiment name.")],
    variant: Annotated[str, typer.Argument(help="One of the experiment's variants.")],
    task_card: Annotated[str, typer.Argument(help="One of the experiment's task cards.")],
    root: Root = Path(),
    replicate: Annotated[
        int | None,
        typer.Option("--replicate", min=1, help="Default: the next one not yet in the file."),
    ] = None,
) -> None:
    """Add an open session entry to the experiment's YAML (comments and layout kept)."""
    from benchctl.manifests import editing
    from benchctl.manifests.loader import load_repository

    path = _experiment_path(root, experiment)
    spec = load_repository(root).repository.experiments[experiment].model.spec
    if replicate is None:
        taken = {
            s.replicate for s in spec.sessions if (s.variant, s.task_card) == (variant, task_card)
        }
        replicate = next(n for n in range(1, len(taken) + 2) if n not in taken)
    editing.add_session(root, path, variant, task_card, replicate)
    typer.echo(f"Added {variant} on {task_card} #{replicate} to {path}. Next: benchctl plan")


def _end(
    status: Literal["finalized", "aborted"],
    root: Path,
    session_id: str,
    outcome: str | None,
    notes: str | None,
) -> None:
    from benchctl.manifests import editing
    from benchctl.reconcile import sessions
    from benchctl.settings import Settings

    row = sessions.show(Settings.from_env(root), session_id)
    path = _experiment_path(root, row["experiment"])
    end = editing.SessionEnd(
        row["variant"], row["task_card"], row["replicate"], status, outcome, notes
    )
    editing.end_sessions(root, path, [end])
    typer.echo(f"Marked session {row['id'][:8]} {status} in {path}. Next: benchctl plan")


Outcome = Annotated[
    str,
    typer.Option("--outcome", help="success, partial or failure, judged by the task card."),
]
Notes = Annotated[str | None, typer.Option("--notes", help="What the operator saw.")]


@session_app.command("finalize")
def finalize(
    session_id: SessionId, outcome: Outcome, root: Root = Path(), notes: Notes = None
) -> None:
    """Mark the session's entry finalized with its outcome (then plan and apply)."""
    if outcome not in ("success", "partial", "failure"):
        raise UsageError(f"--outcome {outcome!r}: use success, partial or failure.")
    _end("finalized", root, session_id, outcome, notes)


@session_app.command("abort")
def abort(session_id: SessionId, root: Root = Path(), notes: Notes = None) -> None:
    """Mark the session's entry aborted: its key is revoked, no outcome is recorded."""
    _end("aborted", root, session_id, None, notes)
