"""Headless runs at scale: the runner's own overhead per session, and its parallel efficiency.

    python bench/run_scale.py [--sessions 16] [--wait 2] [--jobs 1,2,4,8] [--repeats 3] [--json]

Starts the local stack exactly as `benchctl up` does (benchctl.stack.up: embedded PostgreSQL,
the simulator, the real LiteLLM proxy; Prometheus too when installed) in a temporary copy of the
example manifests, to which it adds a harness profile whose launch only waits (`sleep WAIT`),
a variant of it on the simulated provider, and a task card on a one-file folder with a trivial
setup (`true`) and a one-line verifier. One experiment per (repeat, -j N) holds a headless grid
of `--sessions` sessions; `benchctl apply --auto-approve` opens them all before anything is
timed. Then, for each repeat and each N in turn, `benchctl.runs.runner.run` (what `benchctl run
EXPERIMENT -j N` runs, in this process) executes one experiment's grid.

Two figures, from the runner's own records:

- **overhead per session**: an attempt's wall time in `run_attempts` (lease to finish:
  `ended_at - started_at`) minus the harness's time (`harness_seconds`) and the verifier's
  (`verifications.duration_ms`): workspace, setup, key, sandbox, records, ending, heartbeat.
  Medians per N. Target: at most 1 s.
- **parallel efficiency** at -j N: T1 / (N x TN), where TN is the wall time of the whole
  `run()` call at -j N over the same number of sessions and T1, the baseline, is the -j 1 run
  of the same repeat. Medians over repeats. Target: at least 0.8 at -j 8.

Each runner step is also timed from outside (its module's names wrapped, not changed) to show
where the overhead goes, and the 1-minute load average is printed after each run: on a shared
machine, other jobs show up there (and in a slow -j 1 baseline). Where Prisma's engines cannot
be downloaded, the proxy is prepared by the offline kit, as in the tests. Exits 1 when a target
is missed, an attempt is not scored or a worker thread dies. Stops everything it started,
whatever happens (`--keep` leaves the repository and the stack's state).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchctl.manifests.loader import load_repository
from benchctl.manifests.models import FOLDER_KIND
from benchctl.settings import Settings
from benchctl.stack import StackOptions, down, up
from benchctl.stack.parts import PREPARE_ENV
from benchctl.stack.processes import free_port

REPO = Path(__file__).resolve().parent.parent
# Settings the bench must not take from the caller's shell: it runs its own stack.
FOREIGN_ENV = (
    "BENCHCTL_DATABASE_URL", "BENCHCTL_PROXY_URL", "BENCHCTL_PROXY_MASTER_KEY",
    "LITELLM_MASTER_KEY", "BENCHCTL_LITELLM_DATABASE_URL", "BENCHCTL_PROMETHEUS_URL",
)  # fmt: skip
OVERHEAD_TARGET_S = 1.0
EFFICIENCY_TARGET = 0.8
EFFICIENCY_AT = 8
# Runner steps timed from outside, by their names in benchctl.runs.runner (those it has). There
# `run_step` is the harness's launch (setup and verifier have their own imports); `verify`
# includes the verifier's own run; `connect` is also the heartbeat's, in its own thread.
STEPS = (
    "connect", "tidy", "find", "session_task", "sandbox_in_use", "prepare", "setup",
    "reissue_key", "run_step", "verify", "record", "end_session",
)  # fmt: skip
# The proxy's part of reissue_key and end_session.
CLIENT_STEPS = ("generate_key", "delete_keys")
# Inside an attempt's window, not the harness, not nested in another step: what the overhead is
# made of (the verifier's own time, inside `verify`, is subtracted apart).
IN_ATTEMPT = (
    "find", "session_task", "sandbox_in_use", "prepare", "setup", "reissue_key", "verify",
    "record", "end_session", "heartbeat __init__", "heartbeat stop",
)  # fmt: skip

PROFILE = """\
apiVersion: benchctl/v1
kind: HarnessProfile
metadata:
  name: wait-only
  description: A harness that only waits (bench/run_scale.py); it never calls the proxy.
spec:
  harness: sleep (coreutils)
  protocol: openai-chat
  env:
    OPENAI_BASE_URL: "{{ proxy.url }}/v1"
    OPENAI_API_KEY: "{{ session.key }}"
  settings:
    wait:
      type: number
      description: Seconds the harness waits.
      default: 2
  launch: sleep {{ variant.settings.wait }}
"""
VARIANT = """\
apiVersion: benchctl/v1
kind: Variant
metadata:
  name: wait-sim-fast
  description: The waiting harness, with a key scoped to sim-fast (bench/run_scale.py).
spec:
  provider: sim
  model: sim-fast
  harness_profile: wait-only
  harness_settings:
    wait: {wait}
"""
TASK_CARD = """\
apiVersion: benchctl/v1
kind: TaskCard
metadata:
  name: wait-only
  description: A one-file workspace, a trivial setup and a one-line verifier (bench/run_scale.py).
spec:
  title: Wait, then be verified
  workspace: tasks/wait-only/workspace
  instructions: Nothing to do; the harness only waits.
  setup:
    run: "true"
    timeout: 1m
  verify:
    run: bash "$BENCHCTL_TESTS_DIR/test.sh"
    tests: tasks/wait-only/tests
    timeout: 1m
  timebox: 10m
  difficulty: easy
"""
EXPERIMENT = """\
apiVersion: benchctl/v1
kind: Experiment
metadata:
  name: {name}
  description: bench/run_scale.py, repeat {repeat}, run with -j {jobs}.
spec:
  variants: [wait-sim-fast]
  task_cards: [wait-only]
  baseline: wait-sim-fast
  replicates: {sessions}
  session_policy: {{ttl: 6h, budget_usd: 1}}
  headless: {{max_attempts: 1, sandbox: {sandbox}}}
"""
ATTEMPTS_SQL = """
SELECT s.experiment, a.status, a.started_at, a.ended_at, a.harness_seconds,
    s.status AS session_status, s.outcome, v.duration_ms
FROM run_attempts a
JOIN sessions s ON s.id = a.session_id
LEFT JOIN verifications v ON v.id = s.verification_id
WHERE s.experiment = ANY(%(names)s)
ORDER BY a.started_at
"""


def experiment_name(repeat: int, jobs: int) -> str:
    return f"scale-r{repeat}-j{jobs}"


def write_repository(root: Path, sessions: int, wait: float, jobs: list[int], repeats: int,
                     sandbox: str) -> None:  # fmt: skip
    for folder in (*FOLDER_KIND, "tasks"):
        shutil.copytree(REPO / folder, root / folder)
    for existing in (root / "experiments").glob("*.yaml"):
        existing.unlink()  # their sessions would wait on providers that are not here
    (root / "harness_profiles" / "wait-only.yaml").write_text(PROFILE)
    (root / "variants" / "wait-sim-fast.yaml").write_text(VARIANT.format(wait=f"{wait:g}"))
    (root / "task_cards" / "wait-only.yaml").write_text(TASK_CARD)
    task = root / "tasks" / "wait-only"
    (task / "workspace").mkdir(parents=True)
    (task / "workspace" / "README.md").write_text("Nothing to do here.\n")
    (task / "tests").mkdir()
    (task / "tests" / "test.sh").write_text('test -f "$BENCHCTL_WORKSPACE/README.md"\n')
    for repeat in range(1, repeats + 1):
        for n in jobs:
            name = experiment_name(repeat, n)
            (root / "experiments" / f"{name}.yaml").write_text(
                EXPERIMENT.format(
                    name=name, repeat=repeat, jobs=n, sessions=sessions, sandbox=sandbox
                )
            )


# -- timing the runner's steps from outside ------------------------------------------------------


@dataclass
class Timings:
    """Seconds of each wrapped call per -j, what the runner reported when (per thread), and the
    exceptions that ended a worker thread."""

    jobs: int = 0
    calls: dict[tuple[int, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    events: list[tuple[float, int, str, bool]] = field(default_factory=list)
    crashes: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, seconds: float) -> None:
        with self.lock:
            self.calls[self.jobs, name].append(seconds)

    def on_event(self, event: Any) -> None:
        with self.lock:
            self.events.append(
                (time.perf_counter(), threading.get_ident(), event.step, event.done is not None)
            )

    def crashed(self, hook: Any) -> None:
        with self.lock:
            self.crashes.append((self.jobs, f"{hook.exc_type.__name__}: {hook.exc_value}"))


def _timed(name: str, function: Callable[..., Any], timings: Timings) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            timings.add(name, time.perf_counter() - start)

    return timed


@contextmanager
def instrumented(runner: Any, timings: Timings) -> Iterator[list[str]]:
    """The runner's steps wrapped with timers (those the module has), a worker thread's
    uncaught exception recorded (and still printed); all restored afterwards."""
    from benchctl.litellm.client import LiteLLMClient

    saved: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, name: str, label: str) -> None:
        function = getattr(owner, name, None) if owner is runner else owner.__dict__.get(name)
        if callable(function):
            saved.append((owner, name, function))
            setattr(owner, name, _timed(label, function, timings))

    for name in STEPS:
        wrap(runner, name, name)
    for name in CLIENT_STEPS:
        wrap(LiteLLMClient, name, f"proxy {name}")
    heartbeat = getattr(runner, "_Heartbeat", None)
    if heartbeat is not None:
        for method in ("__init__", "stop"):
            wrap(heartbeat, method, f"heartbeat {method}")
    previous_hook = threading.excepthook

    def hook(args: Any) -> None:
        timings.crashed(args)
        previous_hook(args)

    threading.excepthook = hook
    try:
        yield [f"{getattr(owner, '__name__', '')}.{name}" for owner, name, _ in saved]
    finally:
        threading.excepthook = previous_hook
        for owner, name, function in saved:
            setattr(owner, name, function)


def gaps(events: list[tuple[float, int, str, bool]], start: float, end: float) -> dict[str, float]:
    """From the runner's messages, medians over worker threads: time from run() to a worker's
    first attempt (connect, tidy, lease), from one attempt's end to the next one's start
    (lease, session row), and from its last to run()'s return (the empty lease, closing)."""
    by_thread: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for at, thread, step, done in events:
        if done or step.startswith("attempt"):
            by_thread[thread].append((at, done))
    first, between, last = [], [], []
    for marks in by_thread.values():
        first.append(marks[0][0] - start)
        last.append(end - marks[-1][0])
        between += [b[0] - a[0] for a, b in itertools.pairwise(marks) if a[1]]
    return {
        "before 1st attempt": statistics.median(first) if first else 0.0,
        "between attempts": statistics.median(between) if between else 0.0,
        "after last attempt": statistics.median(last) if last else 0.0,
    }


# -- the runs --------------------------------------------------------------------------------


@dataclass
class Run:
    repeat: int
    jobs: int
    wall_s: float
    overheads_s: list[float] = field(default_factory=list)
    harness_s: list[float] = field(default_factory=list)
    verify_s: list[float] = field(default_factory=list)
    attempt_s: list[float] = field(default_factory=list)
    not_scored: int = 0
    attempts: int = 0  # rows in run_attempts, scored or not
    crashes: list[str] = field(default_factory=list)
    gaps: dict[str, float] = field(default_factory=dict)
    load: float = 0.0  # the 1-minute load average when it ended: others' work shows here


def read_attempts(settings: Settings, runs: list[Run]) -> None:
    from benchctl.db.connection import connect

    by_name = {experiment_name(r.repeat, r.jobs): r for r in runs}
    with connect(settings, upgrade=False) as conn:
        rows = conn.execute(ATTEMPTS_SQL, {"names": list(by_name)}).fetchall()
    for row in rows:
        run = by_name[row["experiment"]]
        run.attempts += 1
        scored = row["status"] == "done" and row["session_status"] == "finalized"
        if not scored or row["outcome"] != "success" or row["duration_ms"] is None:
            run.not_scored += 1
            continue
        wall = (row["ended_at"] - row["started_at"]).total_seconds()
        verify_s = row["duration_ms"] / 1000
        run.attempt_s.append(wall)
        run.harness_s.append(row["harness_seconds"])
        run.verify_s.append(verify_s)
        run.overheads_s.append(wall - row["harness_seconds"] - verify_s)


def apply(root: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCHCTL_FAILPOINT")}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchctl", "apply", "--auto-approve", "--root", str(root)],
        env=env, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"benchctl apply failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return time.perf_counter() - start


def offline_prepare_hook() -> None:
    """Where Prisma's engines cannot be downloaded, the offline kit's setup.sh prepares the
    proxy, as tests/proxy_stack.py does: BENCHCTL_LITELLM_PREPARE if set, else the kit named
    by BENCHCTL_LITELLM_OFFLINE_KIT, else ../shared/litellm-offline beside the repository."""
    if os.environ.get(PREPARE_ENV):
        return
    named = os.environ.get("BENCHCTL_LITELLM_OFFLINE_KIT")
    kit = Path(named) if named else REPO.parent / "shared" / "litellm-offline"
    if (kit / "setup.sh").exists():
        os.environ[PREPARE_ENV] = str(kit / "setup.sh")


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def p90(values: list[float]) -> float | None:
    if len(values) < 2:
        return median(values)
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def summarize(runs: list[Run], jobs: list[int]) -> dict[int, dict[str, Any]]:
    summary: dict[int, dict[str, Any]] = {}
    baseline = {r.repeat: r.wall_s for r in runs if r.jobs == jobs[0]}
    for n in jobs:
        mine = [r for r in runs if r.jobs == n]
        overheads = [o for r in mine for o in r.overheads_s]
        efficiencies = [baseline[r.repeat] * jobs[0] / (n * r.wall_s) for r in mine]
        summary[n] = {
            "wall_s": median([r.wall_s for r in mine]),
            "walls_s": [r.wall_s for r in mine],
            "efficiency": median(efficiencies),
            "efficiencies": efficiencies,
            "overhead_median_s": median(overheads),
            "overhead_mean_s": statistics.fmean(overheads) if overheads else None,
            "overhead_p90_s": p90(overheads),
            "attempt_median_s": median([a for r in mine for a in r.attempt_s]),
            "harness_median_s": median([h for r in mine for h in r.harness_s]),
            "verifier_median_s": median([v for r in mine for v in r.verify_s]),
            "verifier_mean_s": statistics.fmean([v for r in mine for v in r.verify_s] or [0.0]),
            "scored_attempts": len(overheads),
            "worker_crashes": sum(len(r.crashes) for r in mine),
        }
    return summary


def breakdown(
    timings: Timings, runs: list[Run], jobs: list[int]
) -> dict[str, dict[int, tuple[float, float]]]:
    """Per wrapped step and -j: (median seconds of a call, seconds per attempt on average)."""
    attempts = {n: sum(r.attempts for r in runs if r.jobs == n) or 1 for n in jobs}
    table: dict[str, dict[int, tuple[float, float]]] = defaultdict(dict)
    for (n, name), values in timings.calls.items():
        table[name][n] = (statistics.median(values), sum(values) / attempts[n])
    return dict(sorted(table.items(), key=lambda item: -item[1].get(jobs[-1], (0, 0))[1]))


def accounted(
    steps: dict[str, dict[int, tuple[float, float]]], summary: dict[int, dict[str, Any]], n: int
) -> float:
    """Seconds per attempt the timed in-attempt steps add up to, the verifier's own removed:
    to compare with the mean overhead that run_attempts gives."""
    total = sum(steps[name][n][1] for name in IN_ATTEMPT if n in steps.get(name, {}))
    return total - summary[n]["verifier_mean_s"]


def print_report(
    args: argparse.Namespace, jobs: list[int], runs: list[Run], timings: Timings, apply_s: float
) -> tuple[float | None, float | None]:
    summary = summarize(runs, jobs)
    steps = breakdown(timings, runs, jobs)
    overhead = median([o for r in runs for o in r.overheads_s])
    at = summary.get(EFFICIENCY_AT, {}).get("efficiency")
    print(
        f"run_scale: {args.sessions} sessions per run, harness `sleep {args.wait:g}`,"
        f" sandbox {args.sandbox}, {args.repeats} repeat(s), {os.cpu_count()} CPUs;"
        f" apply of {args.sessions * len(jobs) * args.repeats} sessions took {apply_s:.1f} s"
    )
    print(
        f"{'-j':>3} {'wall':>8} {'efficiency':>11} {'overhead':>9} {'p90':>7} {'mean':>7}"
        f" {'attempt':>8} {'harness':>8} {'verifier':>9}"
    )
    for n, s in summary.items():
        eff = "baseline" if n == jobs[0] else f"{s['efficiency']:.2f}"
        print(
            f"{n:>3} {s['wall_s']:>7.2f}s {eff:>11} {s['overhead_median_s']:>8.3f}s"
            f" {s['overhead_p90_s']:>6.3f}s {s['overhead_mean_s']:>6.3f}s"
            f" {s['attempt_median_s']:>7.3f}s {s['harness_median_s']:>7.3f}s"
            f" {s['verifier_median_s']:>8.3f}s"
        )
    print("(wall, efficiency: medians over repeats; the rest over every scored attempt)")
    print("each run: wall s / efficiency / 1-minute load average at its end (this bench's own")
    print(f"load included; {os.cpu_count()} CPUs): noisy neighbours show here")
    baseline = {r.repeat: r.wall_s for r in runs if r.jobs == jobs[0]}
    for repeat in sorted(baseline):
        cells = [
            f"-j {r.jobs}: {r.wall_s:.2f} / {baseline[repeat] * jobs[0] / (r.jobs * r.wall_s):.2f}"
            f" / {r.load:.1f}"
            for r in runs
            if r.repeat == repeat
        ]
        print(f"  repeat {repeat}: " + "; ".join(cells))
    if overhead is not None:
        met = "met" if overhead <= OVERHEAD_TARGET_S else "MISSED"
        print(
            f"overhead per session, all runs: median {overhead:.3f} s"
            f" (x{overhead / args.wait:.3f} of the harness's wait);"
            f" target <= {OVERHEAD_TARGET_S:g} s: {met}"
        )
    if at is not None:
        print(
            f"efficiency at -j {EFFICIENCY_AT}: {at:.2f} (repeats:"
            f" {', '.join(f'{e:.2f}' for e in summary[EFFICIENCY_AT]['efficiencies'])});"
            f" target >= {EFFICIENCY_TARGET:g}: {'met' if at >= EFFICIENCY_TARGET else 'MISSED'}"
        )
    print("where the time goes: seconds per attempt (mean) of each step timed from outside")
    print(f"  {'step':<24}" + "".join(f" {'-j ' + str(n):>8}" for n in jobs))
    for name, by_n in steps.items():
        note = {"run_step": " (the harness)", "verify": " (with the verifier)"}.get(name, "")
        if name.startswith("proxy "):
            note = " (inside the above)"
        cells = "".join(f" {by_n[n][1]:>8.3f}" if n in by_n else f" {'':>8}" for n in jobs)
        print(f"  {name:<24}{cells}{note}")
    cells = "".join(f" {accounted(steps, summary, n):>8.3f}" for n in jobs)
    print(f"  {'= in-attempt steps':<24}{cells} (vs the mean overhead above)")
    for what in runs[0].gaps if runs else ():
        by_n = [statistics.median([r.gaps[what] for r in runs if r.jobs == n]) for n in jobs]
        cells = "".join(f" {seconds:>8.3f}" for seconds in by_n)
        print(f"  {what:<24}{cells}")
    crashes = [(r, c) for r in runs for c in r.crashes]
    for run, crash in crashes:
        print(f"worker thread died (repeat {run.repeat}, -j {run.jobs}): {crash}")
    missing = sum(args.sessions - len(r.overheads_s) for r in runs)
    if missing:
        print(f"{missing} session(s) not scored or not run: see run_attempts (use --keep)")
    return overhead, at


def write_json(
    args: argparse.Namespace, jobs: list[int], runs: list[Run], timings: Timings,
    apply_s: float, wrapped: list[str],
) -> None:  # fmt: skip
    summary = summarize(runs, jobs)
    steps = breakdown(timings, runs, jobs)
    print(json.dumps({
        "sessions": args.sessions, "wait_s": args.wait, "repeats": args.repeats,
        "sandbox": args.sandbox, "cpus": os.cpu_count(), "apply_s": apply_s,
        "overhead_median_s": median([o for r in runs for o in r.overheads_s]),
        "overhead_target_s": OVERHEAD_TARGET_S, "efficiency_target": EFFICIENCY_TARGET,
        "jobs": {str(n): s for n, s in summary.items()},
        "runs": [
            {"repeat": r.repeat, "jobs": r.jobs, "wall_s": r.wall_s, "attempts": r.attempts,
             "overheads_s": r.overheads_s, "gaps_s": r.gaps, "worker_crashes": r.crashes,
             "load_1m": r.load}
            for r in runs
        ],
        "steps_per_attempt_s": {
            name: {str(n): per for n, (_, per) in by_n.items()} for name, by_n in steps.items()
        },
        "wrapped": wrapped,
    }, indent=2))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=16, help="sessions per run (default 16)")
    parser.add_argument("--wait", type=float, default=2.0, help="harness wait in s (default 2)")
    parser.add_argument("--jobs", default="1,2,4,8", help="-j values, the first is the baseline")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of every -j (default 3)")
    parser.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto")
    parser.add_argument("--json", action="store_true", help="a JSON summary on stdout")
    parser.add_argument("--keep", action="store_true", help="keep the temporary repository")
    args = parser.parse_args()
    jobs = [int(j) for j in args.jobs.split(",")]
    if not 1 <= args.sessions <= 100:
        parser.error("--sessions is a grid's replicates: 1 to 100")

    for name in FOREIGN_ENV:
        os.environ.pop(name, None)
    offline_prepare_hook()
    root = Path(tempfile.mkdtemp(prefix="benchctl-run-scale-"))
    root.chmod(0o755)  # as root, pgserver runs PostgreSQL as another user
    write_repository(root, args.sessions, args.wait, jobs, args.repeats, args.sandbox)
    repository = load_repository(root).repository
    options = StackOptions(
        proxy_port=free_port(), prometheus_port=free_port(), sim_port=free_port()
    )
    # Imported here, so that the wrappers below see the module every run() call uses.
    import benchctl.runs.runner as runner

    timings = Timings()
    runs: list[Run] = []
    try:
        print("starting the stack (benchctl.stack.up) ...", file=sys.stderr)
        up(Settings.from_env(root), repository, options=options)
        total = args.sessions * len(jobs) * args.repeats
        print(f"benchctl apply: opening {total} headless sessions ...", file=sys.stderr)
        apply_s = apply(root)
        settings = Settings.from_env(root)
        with instrumented(runner, timings) as wrapped:
            for repeat in range(1, args.repeats + 1):
                for n in jobs:
                    options_n = runner.RunOptions(
                        experiment=experiment_name(repeat, n), workers=n, sandbox=args.sandbox
                    )
                    timings.jobs = n
                    events, crashes = len(timings.events), len(timings.crashes)
                    start = time.perf_counter()
                    runner.run(settings, options_n, timings.on_event)
                    end = time.perf_counter()
                    run = Run(repeat, n, end - start)
                    run.gaps = gaps(timings.events[events:], start, end)
                    run.crashes = [c for _, c in timings.crashes[crashes:]]
                    run.load = os.getloadavg()[0]
                    runs.append(run)
                    print(f"  repeat {repeat}, -j {n}: {run.wall_s:.2f} s", file=sys.stderr)
        read_attempts(settings, runs)
    finally:
        if args.keep:
            print(f"kept {root}; stop its stack with: benchctl down --root {root}", file=sys.stderr)
        else:
            down(Settings.from_env(root))
            shutil.rmtree(root, ignore_errors=True)

    if args.json:
        write_json(args, jobs, runs, timings, apply_s, wrapped)
        summary = summarize(runs, jobs)
        overhead = median([o for r in runs for o in r.overheads_s])
        at = summary.get(EFFICIENCY_AT, {}).get("efficiency")
    else:
        overhead, at = print_report(args, jobs, runs, timings, apply_s)
    missed = overhead is None or overhead > OVERHEAD_TARGET_S
    missed |= at is not None and at < EFFICIENCY_TARGET
    incomplete = any(len(r.overheads_s) != args.sessions or r.crashes for r in runs)
    return 1 if missed or incomplete else 0


if __name__ == "__main__":
    sys.exit(main())
