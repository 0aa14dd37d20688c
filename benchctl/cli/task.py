"""``benchctl task``: check task cards before sessions are spent on them, import Harbor tasks."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from benchctl.cli.options import Root, Sandbox, SandboxOption
from benchctl.errors import UsageError

if TYPE_CHECKING:
    from benchctl.tasks.check import TaskCheck

# Core modules are imported where used: every command, even --help, imports this module.

task_app = typer.Typer(
    help="Task cards: check that each is sound (`task check`), import Harbor task folders.",
    no_args_is_help=True,
)


@task_app.command("check")
def check(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="Task cards to check. Default: every one with verify.", show_default=False
        ),
    ] = None,
    root: Root = Path(),
    repeat: Annotated[
        int,
        typer.Option(
            "--repeat", min=1, max=100, help="Verify the oracle's result this many times."
        ),
    ] = 3,
    sandbox: SandboxOption = Sandbox.auto,
    changed_since: Annotated[
        str | None,
        typer.Option(
            "--changed-since",
            help="Only task cards whose manifest or folders differ from this git revision"
            " (committed or not), e.g. origin/main in a pull request.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Results as one JSON object.")] = False,
) -> None:
    """Prove each task card sound, in a fresh workspace of its own:

    1. setup succeeds;
    2. the verifier does *not* pass the untouched workspace (the task is not already solved);
    3. the verifier passes after the oracle, the task's reference solution;
    4. verifying that result `--repeat` times gives the same reward every time.

    Prints a table, then each broken task's problems with its step's log.
    Exits 0 when every task is sound, 1 when any is broken, 2 on bad usage.

    Examples:

      benchctl task check                        # every task card with verify

      benchctl task check fix-median --repeat 10 # hunt a flaky verifier

      benchctl task check --changed-since origin/main   # what a pull request changed
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from benchctl.manifests.loader import load_valid_repository
    from benchctl.render.text import printable
    from benchctl.settings import Settings
    from benchctl.tasks.check import check_task
    from benchctl.tasks.process import sandbox_in_use
    from benchctl.tasks.workspace import Task

    repo = load_valid_repository(root)
    if names:
        unknown = [n for n in names if n not in repo.task_cards]
        if unknown:
            known = ", ".join(sorted(repo.task_cards)) or "none"
            raise UsageError(f"no task card named {', '.join(unknown)}; known: {known}.")
        chosen = list(dict.fromkeys(names))
    elif changed_since is not None:
        from benchctl.tasks.changed import changed_task_cards

        chosen = changed_task_cards(repo, changed_since)
        if not chosen:
            typer.echo(f"No task card changed since {changed_since}: nothing to check.")
            raise typer.Exit(0)
    else:
        chosen = sorted(n for n, c in repo.task_cards.items() if c.model.spec.verify)
        if not chosen:
            raise UsageError("no task card has verify: there is nothing to check.")
    use_sandbox = sandbox_in_use(sandbox.value)
    hidden = [Settings.local(root).state_dir]
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    results = []
    for index, name in enumerate(chosen, 1):
        task = Task(repo.task_cards[name].model, root)
        prefix = f"[{index}/{len(chosen)}] {name}"

        def progress(step: str, prefix: str = prefix) -> None:
            err.print(escape(f"{prefix}: {step}…"))

        results.append(
            check_task(task, repeat=repeat, sandbox=use_sandbox, hidden=hidden, progress=progress)
        )
    broken = [r for r in results if not r.ok]
    if as_json:
        payload = {
            "sandbox": "bwrap" if use_sandbox else "none",
            "ok": not broken,
            "tasks": [
                {
                    "task_card": r.task, "ok": r.ok, "problems": r.problems,
                    "warnings": r.warnings,
                    "untouched_reward": r.untouched.reward if r.untouched else None,
                    "oracle_rewards": r.rewards,
                }
                for r in results
            ],
        }  # fmt: skip
        typer.echo(json.dumps(payload, indent=2))
        raise typer.Exit(1 if broken else 0)
    table = Table("task card", "untouched", "oracle", "repeats", "result")
    for r in results:
        untouched = r.untouched.reward if r.untouched else None
        oracle = ", ".join(f"{x:g}" for x in r.rewards if x is not None)
        table.add_row(
            escape(r.task),
            "" if untouched is None else f"{untouched:g}",
            oracle.split(", ")[0] if oracle else "",
            str(len(r.rewards)),
            "[red]broken[/red]"
            if not r.ok
            else "[yellow]unproven[/yellow]"
            if r.warnings
            else "[green]ok[/green]",
        )
    out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 1_000)
    out.print(table)
    for r in results:
        for problem in r.problems:
            out.print(f"[red]{escape(r.task)}[/red]: {escape(printable(problem))}", highlight=False)
        for warning in r.warnings:
            out.print(f"[yellow]{escape(r.task)}[/yellow]: {escape(warning)}", highlight=False)
    how = "under bubblewrap" if use_sandbox else "without a sandbox (bubblewrap not in use)"
    out.print(f"{len(results) - len(broken)} of {len(results)} task card(s) sound, {how}.")
    raise typer.Exit(1 if broken else 0)


def _verdict(result: TaskCheck) -> str:
    if not result.ok:
        return "[red]broken[/red]"
    return "[yellow]unproven[/yellow]" if result.warnings else "[green]ok[/green]"


@task_app.command("import")
def import_(
    folder: Annotated[
        Path, typer.Argument(help="A Harbor task folder (task.toml, instruction.md, tests/).")
    ],
    root: Root = Path(),
    name: Annotated[
        str | None,
        typer.Option("--name", help="Task card name. Default: the folder's name."),
    ] = None,
) -> None:
    """Turn a Harbor (Terminal-Bench) task folder into a task card, files unchanged.

    Copies the folder to `tasks/NAME/` and writes `task_cards/NAME.yaml`: `instruction.md` is
    the instructions, `tests/` the hidden tests run by `bash /tests/test.sh`, `solution/solve.sh`
    the oracle, `[verifier]`/`[agent]` timeouts the verify timeout and timebox, and the files
    beside `environment/Dockerfile` the workspace. A Dockerfile is not run: its `RUN` lines are
    printed for you to turn into `setup`. Harbor's absolute paths (`/tests`, `/logs/verifier`)
    exist under bubblewrap, so imported tasks need it installed.
    """
    from benchctl.tasks.harbor import import_harbor

    done = import_harbor(folder, root, name)
    typer.echo(f"Wrote {done.card} and copied the task to {done.folder}.")
    for note in done.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"Next: benchctl validate {done.card} && benchctl task check {done.name}")
