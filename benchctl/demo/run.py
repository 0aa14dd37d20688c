"""The whole loop on one machine, offline: stack up, sessions opened, driven, verified,
finalized, collected, reported.

Everything runs in a scratch workspace (``.benchctl/demo/``) with its own embedded database and
stack on free ports, so a user's own state and running stack are never touched, and each run
starts from nothing: the simulator then answers every session's conversation exactly as last
time, and the counts, tokens, costs, errors and outcomes in the report come out the same. Only
the timings are measured, so they vary with the machine by a few milliseconds.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from benchctl.collect.engine import collect
from benchctl.db.connection import connect
from benchctl.db.queries import query
from benchctl.demo import DEFAULT_SIM_SPEED, workspace
from benchctl.demo.harness import SessionRun, read_env_file, run_session
from benchctl.errors import BenchctlError
from benchctl.manifests.catalog import Repository
from benchctl.manifests.editing import SessionEnd, end_sessions
from benchctl.manifests.loader import load_valid_repository
from benchctl.reconcile.engine import ApplyRequest, apply
from benchctl.reconcile.envfile import env_path
from benchctl.reconcile.sessions import list_sessions
from benchctl.reconcile.verifications import verify_session
from benchctl.report.writer import ReportResult, write_report
from benchctl.settings import Settings
from benchctl.stack.control import StackOptions, down, up
from benchctl.stack.processes import free_port
from benchctl.tasks.oracle import apply_oracle
from benchctl.tasks.process import sandbox_in_use
from benchctl.tasks.workspace import Task, prepare, setup

# Sessions driven at once. Operators rarely run more in parallel, and more would measure the
# proxy's CPU rather than the models.
PARALLEL_SESSIONS = 6
# LiteLLM writes spend logs in batches (every second here, plus up to 5 s of its own jitter).
COLLECT_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Step:
    """Where the demo is: a ``phase`` starts with its first step and ends when the next begins.

    ``detail`` says what happens inside the phase; ``done`` of ``total`` counts its units
    (sessions driven, requests collected) when it has any.
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
    experiment_file = workspace.prepare(root, space)
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
        on_step(Step("opening the sessions, each with its own scoped key"))
        _apply(settings)
        sessions = list_sessions(settings, experiment=workspace.DEMO_EXPERIMENT, status="open")
        runs = _drive(settings, sessions, on_step)
        verified = _verify_all(settings, repository, sessions, runs, on_step)
        on_step(Step("finalizing the sessions and revoking their keys"))
        ends = [
            SessionEnd(
                session["variant"],
                session["task_card"],
                session["replicate"],
                status="finalized",
                outcome=outcome,
                notes=f"{result.answered} of {result.turns} turns answered",
                outcome_source="verified",
            )
            for session, result, outcome in zip(sessions, runs, verified, strict=True)
        ]
        end_sessions(space, experiment_file, ends)
        _apply(settings)
        sent = sum(r.turns for r in runs)
        collected = _collect_all(settings, sent, on_step)
        on_step(Step("writing the report"))
        report = write_report(settings, workspace.DEMO_EXPERIMENT, options.out_dir, bundle=True)
    finally:
        if not options.keep_running:
            on_step(Step("stopping the stack"))
            down(settings)
    outcomes: dict[str, int] = {}
    for outcome in verified:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return DemoResult(space, report, len(sessions), sent, collected, outcomes)


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


def _drive(
    settings: Settings, sessions: list[dict[str, object]], on_step: OnStep
) -> list[SessionRun]:
    """A few sessions at a time, each reading only its own env file, as separate harnesses would."""
    phase = f"driving the sessions through the proxy, {PARALLEL_SESSIONS} at a time"
    envs = [read_env_file(env_path(settings.sessions_dir, str(s["id"]))) for s in sessions]
    on_step(Step(phase, done=0, total=len(envs)))
    with ThreadPoolExecutor(max_workers=PARALLEL_SESSIONS) as pool:
        futures = [pool.submit(run_session, env) for env in envs]
        for finished, _ in enumerate(as_completed(futures), start=1):
            on_step(Step(phase, done=finished, total=len(envs)))
        return [future.result() for future in futures]


def _verify_one(
    settings: Settings, repository: Repository, session: dict[str, object], run: SessionRun
) -> str:
    """Score the session's workspace with its task card's verifier, for real. The SDK script
    edits no code, so where every one of its turns was answered the task's oracle stands in for
    the agent's edits; elsewhere the workspace stays as the task card gives it."""
    task = Task(repository.task_cards[str(session["task_card"])].model, settings.root)
    sandbox = sandbox_in_use("auto")
    with tempfile.TemporaryDirectory(prefix="benchctl-demo-") as scratch_name:
        scratch = Path(scratch_name)
        workspace = prepare(task, scratch / "workspace", sandbox=sandbox)
        hidden = [settings.state_dir]
        done = setup(task, workspace, scratch, sandbox=sandbox, hidden=hidden)
        if done is not None and done.exit_code != 0:
            raise BenchctlError(f"setup of task card {task.name} failed:\n{done.log[-600:]}")
        if run.outcome == "success":
            apply_oracle(task, workspace, scratch, sandbox=sandbox, hidden=hidden)
        found = verify_session(
            settings, str(session["id"]), workspace, sandbox=sandbox, hidden=hidden
        ).verification
    if found.outcome is None:
        raise BenchctlError(f"the verifier of task card {task.name} errored: {found.error}")
    return found.outcome


def _verify_all(
    settings: Settings,
    repository: Repository,
    sessions: list[dict[str, object]],
    runs: list[SessionRun],
    on_step: OnStep,
) -> list[str]:
    phase = "scoring each session's workspace with its task card's verifier"
    on_step(Step(phase, done=0, total=len(sessions)))
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(_verify_one, settings, repository, session, run)
            for session, run in zip(sessions, runs, strict=True)
        ]
        for finished, _ in enumerate(as_completed(futures), start=1):
            on_step(Step(phase, done=finished, total=len(sessions)))
        return [future.result() for future in futures]


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
