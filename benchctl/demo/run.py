"""The whole loop on one machine, offline: stack up, the headless grid opened, run by
`benchctl run`'s runner with the SDK script harness, verified, finalized, collected, reported.

Everything runs in a scratch workspace (``.benchctl/demo/``) with its own embedded database and
stack on free ports, so a user's own state and running stack are never touched, and each run
starts from nothing. The simulated models edit each session's workspace (the task's oracle
solution with each model's solve rate, else a plausible wrong change), and the task's verifier
scores what they wrote. Each session's conversation is named by its cell of the grid, so the
simulator answers it exactly as last time: counts, tokens, costs, errors and outcomes in the
report come out the same. Only the timings are measured, so they vary with the machine.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchctl.collect.engine import collect
from benchctl.db.connection import connect
from benchctl.db.queries import query
from benchctl.demo import DEFAULT_SIM_SPEED, workspace
from benchctl.errors import BenchctlError
from benchctl.manifests.loader import load_valid_repository
from benchctl.reconcile.engine import ApplyRequest, apply
from benchctl.reconcile.sessions import list_sessions
from benchctl.report.writer import ReportResult, write_report
from benchctl.runs.runner import Attempt, Event, RunOptions
from benchctl.runs.runner import run as run_sessions
from benchctl.settings import Settings
from benchctl.stack.control import StackOptions, down, up
from benchctl.stack.processes import free_port

# Sessions run at once. Operators rarely run more in parallel, and more would measure the
# proxy's CPU rather than the models.
PARALLEL_SESSIONS = 6
# LiteLLM writes spend logs in batches (every second here, plus up to 5 s of its own jitter).
COLLECT_TIMEOUT_S = 90.0
_SENT = re.compile(r"^requests sent: (\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class Step:
    """Where the demo is: a ``phase`` starts with its first step and ends when the next begins.

    ``detail`` says what happens inside the phase; ``done`` of ``total`` counts its units
    (sessions run, requests collected) when it has any.
    """

    phase: str
    detail: str = ""
    done: int | None = None
    total: int | None = None


OnStep = Callable[[Step], None]


@dataclass(frozen=True)
class DemoOptions:
    root: Path
    out_dir: Path
    sim_speed: float = DEFAULT_SIM_SPEED
    keep_running: bool = False


@dataclass(frozen=True)
class DemoResult:
    workspace: Path
    report: ReportResult
    sessions: int
    requests_sent: int
    requests_collected: int
    outcomes: dict[str, int]


def run(options: DemoOptions, on_step: OnStep) -> DemoResult:
    root = options.root.resolve()
    space = root / workspace.WORKSPACE
    if space.exists():
        on_step(Step("stopping the previous demo's stack"))
        down(Settings.local(space))
    workspace.prepare(root, space)
    repository = load_valid_repository(space)
    # Never BENCHCTL_DATABASE_URL or a proxy from the environment: the demo brings its own.
    settings = Settings.local(space)
    try:
        starting = "starting PostgreSQL, the simulated provider and the LiteLLM proxy"
        on_step(Step(starting))
        stack_options = StackOptions(
            proxy_port=free_port(),
            prometheus_port=free_port(),
            sim_port=free_port(),
            sim_speed=options.sim_speed,
        )
        up(
            settings,
            repository,
            options=stack_options,
            progress=lambda e: on_step(Step(starting, e.message)),
        )
        settings = Settings.local(space)
        on_step(Step("opening the headless grid, each session with its own scoped key"))
        _apply(settings)
        attempts = _run_grid(settings, on_step)
        sent = _requests_sent(settings)
        collected = _collect_all(settings, sent, on_step)
        on_step(Step("writing the report"))
        report = write_report(settings, workspace.DEMO_EXPERIMENT, options.out_dir, bundle=True)
    finally:
        if not options.keep_running:
            on_step(Step("stopping the stack"))
            down(settings)
    outcomes: dict[str, int] = {}
    for attempt in attempts:
        name = attempt.outcome or attempt.status
        outcomes[name] = outcomes.get(name, 0) + 1
    return DemoResult(space, report, len(attempts), sent, collected, outcomes)


def _apply(settings: Settings) -> None:
    outcome = apply(
        ApplyRequest(
            settings=settings,
            plan_file=None,
            lock_timeout=30.0,
            confirm=lambda plan: True,
            on_action=lambda action: None,
        )
    )
    if outcome.result is None:
        raise BenchctlError("the demo's apply changed nothing; its workspace is not fresh.")


def _run_grid(settings: Settings, on_step: OnStep) -> list[Attempt]:
    """The grid through `benchctl run`'s runner: a fresh workspace per session, the harness from
    its profile, the verifier, the ending; what `benchctl run demo -j 6` does."""
    total = len(list_sessions(settings, experiment=workspace.DEMO_EXPERIMENT, status="open"))
    phase = f"running the sessions headless, {PARALLEL_SESSIONS} at a time, each verified"
    finished = 0
    on_step(Step(phase, done=0, total=total))

    def on_event(event: Event) -> None:
        nonlocal finished
        if event.done is not None:
            finished += 1
            on_step(Step(phase, event.label, done=finished, total=total))

    options = RunOptions(experiment=workspace.DEMO_EXPERIMENT, workers=PARALLEL_SESSIONS)
    attempts = run_sessions(settings, options, on_event)
    failed = [a for a in attempts if a.status != "scored"]
    if failed:
        raise BenchctlError(
            f"{len(failed)} demo session(s) did not score, the first {failed[0].label}:"
            f" {failed[0].status}, {failed[0].error}"
        )
    return attempts


def _requests_sent(settings: Settings) -> int:
    """What the harness says it sent, summed over the attempts that scored."""
    with connect(settings, upgrade=False) as conn:
        logs = conn.execute(
            query("demo.harness_logs"), {"experiment": workspace.DEMO_EXPERIMENT}
        ).fetchall()
    return sum(int(m.group(1)) for row in logs for m in _SENT.finditer(row["log"]))


def _collect_all(settings: Settings, sent: int, on_step: OnStep) -> int:
    """Collect until every request the harnesses made is in, or the proxy's flush is overdue."""
    deadline = time.monotonic() + COLLECT_TIMEOUT_S
    while True:
        summary = collect(settings, experiment=workspace.DEMO_EXPERIMENT)
        with connect(settings, upgrade=False) as conn:
            row = conn.execute(
                query("demo.requests"), {"experiment": workspace.DEMO_EXPERIMENT}
            ).fetchone()
        have = int(row["requests"]) if row else 0
        on_step(
            Step(
                "collecting what the proxy logged",
                f"{summary.rows_read} spend-log rows read",
                done=have,
                total=sent,
            )
        )
        if have >= sent or time.monotonic() > deadline:
            return have
        time.sleep(1.0)
