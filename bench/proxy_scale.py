"""Sessions' requests per second through 1 and 2 LiteLLM proxy instances, and the collector's lag.

    python bench/proxy_scale.py [--sessions 16] [--concurrency 32] [--seconds 20]
                                [--rate-share 0.5] [--sim-speed 1000]

Starts the local stack as `benchctl up` does (benchctl.stack.up: embedded PostgreSQL, the
simulator, the real LiteLLM proxy, Prometheus when installed) in a temporary copy of the example
manifests, on free ports, and opens N sessions of the demo experiment with `benchctl apply`
(real session keys, scoped and budgeted). Then:

1. throughput: with one proxy instance, then with two (`up --proxies 2 --restart-proxy`:
   Redis and LiteLLM's multi-instance settings), C concurrent clients each send non-streamed
   chat completions for S seconds, on a session's key, to the instance that session's env
   points at. Prints successful calls per second for each, and their ratio, in the same run,
   and the two-instance stack again with every session on its first instance: what
   LiteLLM's Redis settings cost by themselves;
2. collector lag at a sustained rate, with two instances: calls at a fixed rate (a share of
   the two-instance rate just measured) for S seconds while `benchctl collect` runs in a loop
   (benchctl.collect.engine.collect, as the command runs it). For each call, the time from its
   response to its row in benchctl's `requests` table: median, p95 and max.

The simulator runs `--sim-speed` times faster than real time, so the proxy is what is measured.
Everything (load generator, simulator, proxies, PostgreSQL, Redis, collector) shares this
machine's cores: the ratio says what a second instance gains *here*; on separate hosts the
gain is bounded by the database and Redis instead (docs/operations.md, "Scaling out").

Stops everything it started, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from proxy_overhead import free_ports

from benchctl.collect.engine import collect
from benchctl.db.connection import connect
from benchctl.manifests.loader import load_repository
from benchctl.reconcile.envfile import key_from_file
from benchctl.settings import Settings
from benchctl.stack import StackOptions, down, up
from benchctl.stack.processes import free_port

REPO = Path(__file__).resolve().parent.parent
FOLDERS = ("providers", "harness_profiles", "variants", "task_cards", "experiments", "tasks")
VARIANT, TASK = "sdk-sim-fast", "fix-median"


@dataclass
class Load:
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    # request id -> when its response ended (time.time()), for the lag
    done_at: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds


def scratch_copy(prefix: str) -> Path:
    """A temporary copy of the example manifests and task folders (proxy_settings.py too)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)  # as root, pgserver runs PostgreSQL as another user
    for folder in FOLDERS:
        shutil.copytree(REPO / folder, root / folder)
    return root


def benchctl(root: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchctl", *args, "--root", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"benchctl {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def open_sessions(root: Path, count: int) -> list[tuple[str, str]]:
    """(session id, raw key) of ``count`` sessions opened by `benchctl apply`."""
    for _ in range(count):
        benchctl(root, "session", "add", "demo", VARIANT, TASK)
    benchctl(root, "apply", "--auto-approve")
    settings = Settings.from_env(root)
    with connect(settings, upgrade=False) as conn:
        rows = conn.execute("SELECT id::text, key_hash FROM sessions WHERE status = 'open'")
        found = []
        for row in rows.fetchall():
            key = key_from_file(settings.sessions_dir / f"{row['id']}.env", row["key_hash"])
            assert key is not None
            found.append((row["id"], key))
    return found


def targets(root: Path, sessions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(instance URL, key) per session: the instance its env points at."""
    settings = Settings.from_env(root)
    return [(settings.session_proxy_url(sid), key) for sid, key in sessions]


async def _send(client: httpx.AsyncClient, url: str, key: str, prompt: str, load: Load) -> None:
    body = {
        "model": VARIANT,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": 16,
    }
    try:
        answer = await client.post(
            f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
        )
    except httpx.HTTPError:
        load.failed += 1
        return
    if answer.status_code == 200:
        load.ok += 1
        load.done_at[answer.json()["id"]] = time.time()
    else:
        load.failed += 1


async def closed_loop(pairs: list[tuple[str, str]], concurrency: int, seconds: float) -> Load:
    """``concurrency`` clients, each sending its next call when the last one answered."""
    load = Load()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        started = time.monotonic()
        deadline = started + seconds

        async def worker(i: int) -> None:
            url, key = pairs[i % len(pairs)]
            n = 0
            while time.monotonic() < deadline:
                await _send(client, url, key, f"scale {os.getpid()} {i} {n}", load)
                n += 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        load.seconds = time.monotonic() - started
    return load


async def open_loop(pairs: list[tuple[str, str]], rate: float, seconds: float) -> Load:
    """Calls started at a fixed ``rate`` per second, whether or not earlier ones answered."""
    load = Load()
    async with httpx.AsyncClient(timeout=60) as client:
        started = time.monotonic()
        tasks = []
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            url, key = pairs[n % len(pairs)]
            prompt = f"lag {os.getpid()} {n}"
            tasks.append(asyncio.create_task(_send(client, url, key, prompt, load)))
        await asyncio.gather(*tasks)
        load.seconds = time.monotonic() - started
    return load


def collector_lag(root: Path, pairs: list[tuple[str, str]], rate: float, seconds: float):
    """Send at ``rate`` while collecting in a loop; each call's lag and the collects' times."""
    settings = Settings.from_env(root)
    seen_at: dict[str, float] = {}
    collect_s: list[float] = []
    sending = threading.Event()
    sending.set()
    result: list[Load] = []

    def send() -> None:
        result.append(asyncio.run(open_loop(pairs, rate, seconds)))
        sending.clear()

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + seconds + 60
    with connect(settings, upgrade=False) as conn:
        while time.monotonic() < deadline:
            began = time.monotonic()
            collect(settings)
            collect_s.append(time.monotonic() - began)
            now = time.time()
            for row in conn.execute("SELECT request_id FROM requests").fetchall():
                seen_at.setdefault(row["request_id"], now)
            if not sending.is_set() and set(result[0].done_at) <= seen_at.keys():
                break
    sender.join()
    load = result[0]
    lags = [seen_at[rid] - t for rid, t in load.done_at.items() if rid in seen_at]
    missing = len(load.done_at) - len(lags)
    return load, lags, collect_s, missing


def redis_stats(port: int) -> dict[str, int]:
    """Commands Redis has processed, and the memory it uses."""
    import redis  # LiteLLM's dependency: the proxy extra installs it

    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        stats, memory = client.info("stats"), client.info("memory")
    finally:
        client.close()
    return {"commands": stats["total_commands_processed"], "memory": memory["used_memory"]}


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=16, help="sessions opened (default 16)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument(
        "--rate-share", type=float, default=0.5, help="lag phase rate, share of 2-instance rate"
    )
    parser.add_argument("--sim-speed", type=float, default=1000.0, help="simulator speed-up")
    args = parser.parse_args()

    root = scratch_copy("benchctl-proxy-scale-")
    demo = root / "experiments" / "demo.yaml"
    # As many replicates as sessions, and thousands of calls per session within budget.
    text = demo.read_text().replace("budget_usd: 10", "budget_usd: 100000")
    demo.write_text(text.replace("replicates: 2", f"replicates: {args.sessions}"))
    repository = load_repository(root).repository
    options = free_ports(args.sim_speed, redis_port=free_port(), proxies=1)
    rates = {}
    try:
        print("starting the stack with 1 proxy instance ...", file=sys.stderr)
        up(Settings.from_env(root), repository, options=options)
        sessions = open_sessions(root, args.sessions)
        for count in (1, 2):
            if count == 2:
                print("restarting with 2 proxy instances and Redis ...", file=sys.stderr)
                scaled = StackOptions(**{**vars(options), "proxies": 2, "restart_proxy": True})
                up(Settings.from_env(root), repository, options=scaled)
            pairs = targets(root, sessions)
            asyncio.run(closed_loop(pairs, args.concurrency, 3.0))  # warm-up
            before = redis_stats(options.redis_port) if count == 2 else {}
            rates[f"{count}"] = asyncio.run(closed_loop(pairs, args.concurrency, args.seconds))
            after = redis_stats(options.redis_port) if count == 2 else {}
            if count == 2:
                # What the Redis settings cost alone: the same stack, every session on one
                # instance.
                first = [(pairs[0][0], key) for _, key in pairs]
                rates["1 of 2"] = asyncio.run(closed_loop(first, args.concurrency, args.seconds))
        rate = args.rate_share * rates["2"].rate
        print(f"collector lag at {rate:.0f} calls/s ...", file=sys.stderr)
        lagged, lags, collects, missing = collector_lag(
            root, targets(root, sessions), rate, args.seconds
        )
    finally:
        down(Settings.from_env(root))
        shutil.rmtree(root, ignore_errors=True)

    print(
        f"proxy_scale: {args.sessions} sessions, {args.concurrency} concurrent clients,"
        f" {args.seconds:g}s per phase, non-streamed, sim speed x{args.sim_speed:g},"
        f" {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f} at the end"
    )
    titles = {
        "1": "1 instance",
        "2": "2 instances + Redis, sessions spread",
        "1 of 2": "2 instances + Redis, all on one",
    }
    print(f"{'proxy':<38} {'calls/s':>9} {'ok':>7} {'failed':>7}")
    for name, load in rates.items():
        print(f"{titles[name]:<38} {load.rate:>9.1f} {load.ok:>7} {load.failed:>7}")
    print(f"ratio 2 / 1 instances: x{rates['2'].rate / rates['1'].rate:.2f}")
    calls = rates["2"].ok + rates["2"].failed
    print(
        f"Redis with 2 instances: {(after['commands'] - before['commands']) / calls:.1f}"
        f" commands per call, {after['memory'] / 2**20:.1f} MiB used"
    )
    print(
        f"collector lag at {lagged.ok / lagged.seconds:.1f} calls/s sustained for"
        f" {lagged.seconds:.0f}s (2 instances, collect in a loop): median"
        f" {statistics.median(lags):.2f}s, p95 {p95(lags):.2f}s, max {max(lags):.2f}s over"
        f" {len(lags)} calls; {missing} never collected; one collect took median"
        f" {statistics.median(collects):.2f}s, max {max(collects):.2f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
