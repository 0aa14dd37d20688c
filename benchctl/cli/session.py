"""``benchctl session``: the operator's day with sessions."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from benchctl.cli.options import LockTimeout, Root, Sandbox, SandboxOption, seconds
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
            f"{r['outcome']} ({r['outcome_source'] or 'self-reported'})" if r["outcome"] else "",
            opened,
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
        f"  source {shlex.quote(str(done.issued.env_file.absolute()))} && {done.issued.command}"
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
    source: Literal["verified", "self-reported"] | None = None,
) -> None:
    from benchctl.manifests import editing
    from benchctl.reconcile import sessions
    from benchctl.settings import Settings

    row = sessions.show(Settings.from_env(root), session_id)
    path = _experiment_path(root, row["experiment"])
    end = editing.SessionEnd(
        row["variant"], row["task_card"], row["replicate"], status, outcome, notes, source
    )
    editing.end_sessions(root, path, [end])
    how = f" ({source} outcome {outcome})" if outcome else ""
    typer.echo(f"Marked session {row['id'][:8]} {status}{how} in {path}. Next: benchctl plan")


Outcome = Annotated[
    str | None,
    typer.Option(
        "--outcome",
        help="success, partial or failure as you judged it: recorded as self-reported."
        " Default: the outcome of the session's latest `session verify`.",
        show_default=False,
    ),
]
Notes = Annotated[str | None, typer.Option("--notes", help="What the operator saw.")]


@session_app.command("finalize")
def finalize(
    session_id: SessionId, root: Root = Path(), outcome: Outcome = None, notes: Notes = None
) -> None:
    """Mark the session's entry finalized with its outcome (then plan and apply).

    Without `--outcome`, the outcome is the one the task card's verifier measured in the
    session's latest `benchctl session verify`, marked `outcome_source: verified`. With
    `--outcome`, it is what you typed, marked `outcome_source: self-reported`; reports count
    the two apart, and count self-reported ones only where the experiment says so.
    """
    if outcome is not None:
        if outcome not in ("success", "partial", "failure"):
            raise UsageError(f"--outcome {outcome!r}: use success, partial or failure.")
        _end("finalized", root, session_id, outcome, notes, "self-reported")
        return
    from benchctl.reconcile import sessions, verifications
    from benchctl.settings import Settings

    settings = Settings.from_env(root)
    row = sessions.show(settings, session_id)
    found = verifications.latest(settings, row["id"])
    if found is None or found["status"] != "scored":
        why = "has never been verified" if found is None else "was last verified with an error"
        raise UsageError(
            f"session {row['id'][:8]} {why}: run `benchctl session verify {row['id'][:8]}"
            " --workspace DIR` first, or finalize with a self-reported --outcome."
        )
    _end("finalized", root, session_id, found["outcome"], notes, "verified")


@session_app.command("verify")
def verify(
    session_id: SessionId,
    workspace: Annotated[
        Path,
        typer.Option(
            "--workspace",
            help="The working copy the harness worked in. Verified in a scratch copy: it is"
            " not changed.",
            file_okay=False,
        ),
    ],
    root: Root = Path(),
    sandbox: SandboxOption = Sandbox.auto,
    as_json: Annotated[bool, typer.Option("--json", help="As a JSON object.")] = False,
) -> None:
    """Score the session's workspace with its task card's verifier, and record the result.

    Runs the verifier of the task card version the session opened with (its hidden tests must
    be unchanged in this checkout), and records its reward, sub-scores, per-test results, the
    tests' hash, duration and a redacted log. Then `benchctl session finalize ID` uses the
    verified outcome. Exits 0 when the verifier scored the attempt (whatever the reward), 1 when
    it errored (timed out, could not run, wrote a bad reward file): such an attempt is unscored.

    Example:

      benchctl session verify 1a2b --workspace ~/work/httpx
    """
    from rich.console import Console
    from rich.markup import escape

    from benchctl.reconcile import verifications
    from benchctl.render.text import printable
    from benchctl.settings import Settings
    from benchctl.tasks.process import sandbox_in_use

    settings = Settings.from_env(root)
    done = verifications.verify_session(
        settings,
        session_id,
        workspace,
        sandbox=sandbox_in_use(sandbox.value),
        hidden=[settings.state_dir],
    )
    found = done.verification
    if as_json:
        payload = {
            "session_id": done.session["id"], "verification_id": done.verification_id,
            "status": found.status, "reward": found.reward, "outcome": found.outcome,
            "subscores": found.subscores, "reward_source": found.reward_source,
            "checks": [{"name": c.name, "status": c.status} for c in found.checks],
            "tests_hash": found.tests_hash, "seconds": round(found.seconds, 3),
            "sandbox": found.sandbox, "error": found.error,
        }  # fmt: skip
        typer.echo(json.dumps(payload, indent=2))
        raise typer.Exit(0 if found.status == "scored" else 1)
    console = Console(soft_wrap=True, highlight=False)
    label = f"session {done.session['id'][:8]}"
    if found.status == "error":
        console.print(f"[red]unscored:[/red] {escape(printable(found.error or ''))}")
        console.print(escape(printable(found.log[-2000:])))
        raise typer.Exit(1)
    subs = ", ".join(f"{k} {v:g}" for k, v in sorted(found.subscores.items()))
    console.print(
        f"{escape(label)}: reward [bold]{found.reward:g}[/bold] → {found.outcome}"
        + (f" ({escape(subs)})" if subs else "")
        + f", from {found.reward_source}, in {found.seconds:.1f}s ({found.sandbox} sandbox)"
    )
    if found.checks:
        console.print(f"tests: {found.passed} passed, {found.failed} failed")
        for check in found.checks:
            if check.status == "failed":
                console.print(f"  [red]failed[/red] {escape(printable(check.name))}")
    console.print(f"Next: benchctl session finalize {done.session['id'][:8]}")


@session_app.command("account")
def account(
    session_id: SessionId,
    output: Annotated[
        Path,
        typer.Option(
            "--from",
            help="The harness's saved output (e.g. Claude Code's --output-format json).",
            dir_okay=False,
        ),
    ],
    root: Root = Path(),
) -> None:
    """Record the harness's own account of the session's cost and tokens, read from its saved
    output as the session's harness profile declares (`spec.account`), and show the session's
    cost three ways: recomputed by benchctl, LiteLLM's spend, the harness's.

    Example:

      claude -p "$TASK_PROMPT" --output-format json > out.json
      benchctl session account 1a2b --from out.json
    """
    from benchctl.reconcile import sessions
    from benchctl.report import units
    from benchctl.settings import Settings

    found = sessions.record_account(Settings.from_env(root), session_id, output)
    harness = found.get("harness_usd")
    typer.echo(
        f"Session {found['session'][:8]}: recomputed {units.usd(found.get('recomputed_usd'))},"
        f" LiteLLM {units.usd(found.get('litellm_usd'))},"
        f" harness {units.usd(harness) if harness is not None else 'reported no cost'}"
        f" ({found.get('requests', 0)} collected call(s); run `benchctl collect` first if 0)."
    )
    for who, flag in (("LiteLLM", "litellm_disagrees"), ("The harness", "harness_disagrees")):
        if found.get(flag):
            typer.echo(f"{who} differs from the recomputed cost by more than 5%.")


@session_app.command("abort")
def abort(session_id: SessionId, root: Root = Path(), notes: Notes = None) -> None:
    """Mark the session's entry aborted: its key is revoked, no outcome is recorded."""
    _end("aborted", root, session_id, None, notes)
