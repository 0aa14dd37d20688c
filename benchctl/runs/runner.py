"""Run headless sessions: lease one, give it a fresh workspace and a key of its own, launch the
harness from its profile with a built environment, time-box it, verify, record, end it.

Leases live in the database (`run_attempts`, taken under the session row's lock with SKIP
LOCKED), so runners in one process (`-j N`) or on many hosts share a grid without running one
session twice. A runner renews its lease while it works; a killed runner's lease lapses and the
session returns to the pool. Each attempt gets its own key (the previous one is deleted), so the
traffic of two attempts never shares a key; requests made with an abandoned attempt's key leave
the session (`runs.abandon_requests`, and the collector's `abandoned` map).

Every run first tidies what killed runners left: lapsed leases, sessions whose ending stopped
half-way (resumed through the same steps), sessions out of attempts (aborted, key deleted), and
this host's scratch folders of attempts nobody runs any more.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from benchctl.db.connection import Connection, connect
from benchctl.db.queries import query
from benchctl.errors import BenchctlError, UsageError
from benchctl.litellm.client import LiteLLMClient
from benchctl.manifests.models.common import duration_seconds
from benchctl.reconcile import failpoints
from benchctl.reconcile.desired import session_label
from benchctl.reconcile.ending import Ending, end_session
from benchctl.reconcile.engine import proxy_client
from benchctl.reconcile.sessions import find, reissue_key
from benchctl.reconcile.verifications import record, session_task
from benchctl.settings import Settings
from benchctl.tasks.process import Finished, SandboxMode, run_step, sandbox_in_use, step_env
from benchctl.tasks.verify import Verification, verify
from benchctl.tasks.workspace import Task, prepare, setup

# A lease lasts this long without a heartbeat; the heartbeat renews it three times as often.
LEASE_S = 120.0
# At its timebox a harness gets SIGTERM, and this long to exit before SIGKILL.
HARNESS_GRACE_S = 10.0
VERSION_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RunOptions:
    experiment: str
    sessions: tuple[str, ...] = ()
    workers: int = 1
    sandbox: SandboxMode = "auto"
    lease_s: float = LEASE_S
    # Set it and workers lease no more sessions (they finish the ones they hold).
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Attempt:
    """What one attempt at one session came to."""

    session_id: str
    label: str
    attempt: int
    status: str  # scored, unscored, infra_error
    outcome: str | None = None
    reward: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class Event:
    """What a run is doing: a session's step (``attempt N``, ``harness``, ``verify``; with
    ``done`` when its attempt is over), or a tidying step on a session (``tidy``)."""

    label: str
    step: str
    done: Attempt | None = None
    tidy: bool = False

    def __str__(self) -> str:
        return f"{self.label}: {self.step}"


OnEvent = Callable[[Event], None]


def _runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _max_attempts(conn: Connection, experiment: str) -> int:
    row = conn.execute(query("report.experiment"), {"experiment": experiment}).fetchone()
    if row is None:
        raise UsageError(f"no experiment {experiment!r} in the benchmark database; apply first.")
    headless = row["document"].get("spec", {}).get("headless")
    if not headless:
        raise UsageError(
            f"experiment {experiment!r} has no spec.headless: its sessions are worked by hand."
        )
    return int(headless.get("max_attempts", 3))


class _Heartbeat:
    def __init__(self, settings: Settings, attempt_id: int, lease_s: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(settings, attempt_id, lease_s), daemon=True
        )
        self._thread.start()

    def _beat(self, settings: Settings, attempt_id: int, lease_s: float) -> None:
        with connect(settings, upgrade=False) as conn:
            while not self._stop.wait(lease_s / 3):
                conn.execute(query("runs.heartbeat"), {"id": attempt_id, "lease_s": lease_s})

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def tidy(
    conn: Connection,
    client: LiteLLMClient,
    settings: Settings,
    experiment: str,
    max_attempts: int,
    on_event: OnEvent,
) -> None:
    """Converge what stopped runners left behind, whichever runner gets here first."""
    _lapse(conn)
    with conn.transaction():
        for row in conn.execute(query("runs.interrupted_endings"), {"experiment": experiment}):
            on_event(
                Event(f"session {row['id'][:8]}", "resuming its interrupted ending", tidy=True)
            )
            end_session(
                conn, client, settings,
                Ending(
                    session_id=row["id"], key_alias=row["key_alias"],
                    finalize=row["status"] == "finalizing", outcome=row["outcome"],
                    source=row["outcome_source"], notes=row["notes"],
                    verification_id=row["verification_id"],
                ),
            )  # fmt: skip
    with conn.transaction():
        exhausted = conn.execute(
            query("runs.exhausted"), {"experiment": experiment, "max_attempts": max_attempts}
        ).fetchall()
        for row in exhausted:
            note = (
                f"aborted by benchctl run: {row['attempts']} attempt(s) failed on infrastructure;"
                f" the last: {row['last_error']}"
            )
            on_event(Event(f"session {row['id'][:8]}", "out of attempts, aborted", tidy=True))
            end_session(
                conn, client, settings,
                Ending(session_id=row["id"], key_alias=row["key_alias"], finalize=False,
                       notes=note[:2000]),
            )  # fmt: skip
    _remove_stale_scratch(conn, settings.state_dir / "runs")


def _lapse(conn: Connection) -> None:
    """Leases not renewed in time end, and their attempts' requests leave their sessions."""
    conn.execute(query("runs.lapse"))
    conn.execute(query("runs.abandon_requests"))


def _remove_stale_scratch(conn: Connection, runs: Path) -> None:
    """This host's workspaces of attempts that are over, and whatever still works in them: a
    runner killed outright cannot take its harness down (bubblewrap's --die-with-parent does,
    when sandboxed)."""
    if not runs.is_dir():
        return
    running = {row["id"] for row in conn.execute(query("runs.running"))}
    for folder in runs.iterdir():
        number = folder.name.partition("-")[0].removeprefix("a")
        if folder.is_dir() and number.isdigit() and int(number) not in running:
            _kill_processes_in(folder)
            shutil.rmtree(folder, ignore_errors=True)


def _kill_processes_in(folder: Path) -> None:
    """SIGKILL this user's processes whose working directory lies in ``folder``: a workspace's
    path names one attempt, so nothing else can be in it."""
    proc = Path("/proc")
    if not proc.is_dir():
        return
    inside = str(folder.resolve())
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = str((entry / "cwd").readlink())
        except OSError:  # gone, or another user's
            continue
        if cwd == inside or cwd.startswith(inside + "/"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)


def _write_files(files: dict[tuple[str, str], str], roots: dict[str, Path]) -> None:
    """The profile's files, under the attempt's home or workspace (never outside them)."""
    for (under, relative), content in files.items():
        target = roots[under] / relative
        if not target.resolve().is_relative_to(roots[under].resolve()):
            raise BenchctlError(f"the profile's file {relative} leaves the {under} folder.")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")


def _version(
    command: str, workspace: Path, env: dict[str, str], sandbox: bool, home: Path,
    hidden: list[Path],
) -> str:  # fmt: skip
    """The first line the profile's version command prints (an error is recorded, not fatal:
    a harness that cannot say its version may still run)."""
    done = run_step(
        ["bash", "-c", command], cwd=workspace, env=env, timeout=VERSION_TIMEOUT_S,
        sandbox=sandbox, writable=[home], hidden=hidden, network=True,
    )  # fmt: skip
    first = next((line.strip() for line in done.log.splitlines() if line.strip()), "")
    if done.exit_code != 0:
        return f"unknown (`{command}` exited {done.exit_code}: {first[:120]})"
    return first[:200]


def _answers(task: Task) -> list[Path]:
    spec = task.card.spec
    found = [task.root / "tasks"]
    if spec.verify is not None and spec.verify.tests is not None:
        found.append(task.path(spec.verify.tests))
    if spec.oracle is not None:
        found += [task.path(p) for p in (spec.oracle.patch, spec.oracle.script) if p is not None]
    return [p for p in found if p.exists()]


def run(settings: Settings, options: RunOptions, on_event: OnEvent) -> list[Attempt]:
    """Run the experiment's open headless sessions until none is left for this runner."""
    if settings.proxy_url is None or settings.proxy_master_key is None:
        raise UsageError("`benchctl run` issues keys: set BENCHCTL_PROXY_URL and its master key.")
    # Steps run in other folders, and bubblewrap binds by path: every path must be absolute.
    settings = dataclasses.replace(settings, root=settings.root.resolve())
    with connect(settings, upgrade=True) as conn, proxy_client(settings) as client:
        assert client is not None
        max_attempts = _max_attempts(conn, options.experiment)
        tidy(conn, client, settings, options.experiment, max_attempts, on_event)
        wanted = None
        if options.sessions:
            wanted = [find(conn, prefix)["id"] for prefix in options.sessions]
    results: list[Attempt] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            _work_sessions(settings, options, wanted, max_attempts, on_event, results, lock)
        except BaseException as exc:  # the run reports it after the other workers finish
            with lock:
                failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(max(1, options.workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Sessions this run used up are aborted now rather than by the next run.
    with connect(settings, upgrade=False) as conn, proxy_client(settings) as client:
        assert client is not None
        tidy(conn, client, settings, options.experiment, max_attempts, on_event)
    if failures:
        raise failures[0]
    return results


def _work_sessions(
    settings: Settings,
    options: RunOptions,
    wanted: list[str] | None,
    max_attempts: int,
    on_event: OnEvent,
    results: list[Attempt],
    lock: threading.Lock,
) -> None:
    """One worker: lease, run, repeat until nothing is left for it."""
    with connect(settings, upgrade=False) as conn, proxy_client(settings) as client:
        assert client is not None
        while not options.stop.is_set():
            # A runner that died meanwhile gives its sessions back to whoever looks next.
            _lapse(conn)
            try:
                leased = conn.execute(
                    query("runs.lease"),
                    {
                        "experiment": options.experiment, "sessions": wanted,
                        "max_attempts": max_attempts, "runner": _runner_name(),
                        "lease_s": options.lease_s,
                    },
                ).fetchone()  # fmt: skip
            except psycopg.errors.UniqueViolation:
                # Another worker numbered an attempt of the same session first (its insert was
                # not yet visible to this one's count): look again.
                continue
            if leased is None:
                return
            failpoints.reached("run.leased")
            done = _attempt(conn, client, settings, options, leased, on_event)
            with lock:
                results.append(done)
            failpoints.reached("run.finished")


def _attempt(
    conn: Connection,
    client: LiteLLMClient,
    settings: Settings,
    options: RunOptions,
    leased: dict[str, Any],
    on_event: OnEvent,
) -> Attempt:
    row = find(conn, leased["session_id"])
    label = session_label(row["experiment"], row["variant"], row["task_card"], row["replicate"])
    on_event(Event(label, f"attempt {leased['attempt']}"))
    heartbeat = _Heartbeat(settings, leased["id"], options.lease_s)
    harness: Finished | None = None
    try:
        harness, found = _work(conn, client, settings, options, leased, row, on_event, label)
        status = "scored" if found.status == "scored" else "unscored"
        result = Attempt(
            row["id"], label, leased["attempt"], status, found.outcome, found.reward, found.error
        )
    except Exception as exc:  # a runner's own failure is infrastructure, never the agent's
        error = str(exc) if isinstance(exc, BenchctlError) else f"{type(exc).__name__}: {exc}"
        result = Attempt(row["id"], label, leased["attempt"], "infra_error", error=error)
    finally:
        heartbeat.stop()
    conn.execute(
        query("runs.finish"),
        {
            "id": leased["id"],
            "status": "infra_error" if result.status == "infra_error" else "done",
            "exit_code": harness.exit_code if harness else None,
            "timed_out": harness.timed_out if harness else False,
            "seconds": harness.seconds if harness else None,
            "error": result.error,
            "log": (harness.log if harness else "").replace("\x00", ""),
        },
    )
    if result.status == "infra_error":
        conn.execute(query("runs.abandon_requests"))
    on_event(Event(label, result.status, result))
    return result


def _step(conn: Connection, leased: dict[str, Any], on_event: OnEvent, event: Event) -> None:
    """Tell the database, then the caller, what the attempt is doing now."""
    conn.execute(query("runs.step"), {"id": leased["id"], "step": event.step})
    on_event(event)


def _work(
    conn: Connection,
    client: LiteLLMClient,
    settings: Settings,
    options: RunOptions,
    leased: dict[str, Any],
    row: dict[str, Any],
    on_event: OnEvent,
    label: str,
) -> tuple[Finished, Verification]:
    assert settings.proxy_url is not None
    sandbox = sandbox_in_use(options.sandbox)
    task = session_task(conn, settings.root, row)
    runs = settings.state_dir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    # All of benchctl's state but the attempt's own workspace and home is hidden (env files
    # with raw keys, the stack's master key, the database, other attempts' workspaces), and so
    # is whatever would give the task away: the tasks' folders, hidden tests and oracles.
    state = [settings.state_dir]
    hidden = [*state, *_answers(task)]
    # Named for the attempt, so that a later run can tell a killed runner's leftovers.
    scratch = runs / f"a{leased['id']}-{row['id'][:8]}"
    scratch.mkdir()
    try:
        _step(conn, leased, on_event, Event(label, "set up"))
        workspace = prepare(task, scratch / "workspace", sandbox=sandbox)
        done = setup(task, workspace, scratch, sandbox=sandbox, hidden=state)
        if done is not None and done.exit_code != 0:
            raise BenchctlError(f"setup failed (exit {done.exit_code}): {done.log[-400:]}")
        failpoints.reached("run.set_up")
        # A key of this attempt's own: the previous attempt's, if any, stops working.
        rendered = reissue_key(conn, client, settings, row, "run").rendered
        conn.execute(query("runs.keyed"), {"id": leased["id"]})
        home = scratch / "home"
        home.mkdir()
        env = {**step_env(home, {}), **rendered.env}
        _write_files(rendered.files, {"home": home, "workspace": workspace})
        if rendered.version is not None:
            version = _version(rendered.version, workspace, env, sandbox, home, hidden)
            conn.execute(query("runs.versioned"), {"id": leased["id"], "version": version})
        _step(conn, leased, on_event, Event(label, "harness"))
        harness = run_step(
            ["bash", "-c", rendered.command], cwd=workspace, env=env,
            timeout=duration_seconds(task.card.spec.timebox), sandbox=sandbox,
            writable=[home], hidden=hidden, network=True, grace=HARNESS_GRACE_S,
        )  # fmt: skip
        if harness.exit_code in (126, 127):
            raise BenchctlError(f"the harness could not start: {harness.log[-400:]}")
        failpoints.reached("run.harness_done")
        _step(conn, leased, on_event, Event(label, "verify"))
        found = verify(task, workspace, sandbox=sandbox, hidden=state)
        verification_id = record(conn, row, found, workspace)
        failpoints.reached("run.verified")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    end_session(
        conn, client, settings,
        Ending(
            session_id=row["id"], key_alias=row["key_alias"], finalize=True,
            outcome=found.outcome, source="verified" if found.outcome else None,
            notes=None, verification_id=verification_id,
        ),
    )  # fmt: skip
    return harness, found
