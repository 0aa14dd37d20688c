"""How much latency the LiteLLM proxy adds over calling the simulated provider directly.

    python bench/proxy_overhead.py [--requests 300] [--sim-speed 1000] [--stream]

Starts the local stack exactly as `benchctl up` does (benchctl.stack.up: embedded PostgreSQL,
the simulator, the real LiteLLM proxy; Prometheus too when installed) in a temporary copy of
the example manifests, on free ports. Then sends N chat completions straight to the simulator
and N through the proxy, interleaved one for one on kept-alive connections, so both see the
same machine load. The simulator runs `--sim-speed` times faster than real time, so its own
delays (TTFT, tokens/s) shrink to well under a millisecond and the difference between the two
is what the proxy costs. Prints median and p95 of each path (successful calls only: the
simulator injects errors on purpose), the added latency as a ratio and in milliseconds, and
LiteLLM's own view: `litellm_overhead_time_ms` of the same calls' spend-log rows.

Stops everything it started, whatever happens.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from benchctl.litellm.client import LiteLLMClient
from benchctl.manifests.loader import load_repository
from benchctl.settings import Settings
from benchctl.stack import StackOptions, down, up
from benchctl.stack.processes import free_port
from benchctl.stack.state import master_key

REPO = Path(__file__).resolve().parent.parent
FOLDERS = ("providers", "harness_profiles", "variants", "task_cards", "experiments")
VARIANT = "sdk-sim-fast"  # the proxy's alias for ...
SIM_MODEL = "sim-fast"  # ... this simulated model
WARMUP = 20


@dataclass
class Sample:
    direct_ms: list[float]
    proxy_ms: list[float]
    request_ids: set[str]


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94]


def timed_post(
    client: httpx.Client, url: str, body: dict[str, object]
) -> tuple[float, httpx.Response]:
    start = time.perf_counter()
    if body.get("stream"):
        with client.stream("POST", url, json=body) as response:
            for _ in response.iter_bytes():
                pass
    else:
        response = client.post(url, json=body)
    return (time.perf_counter() - start) * 1000, response


def measure(sim_url: str, proxy_url: str, key: str, count: int, stream: bool) -> Sample:
    direct = httpx.Client(timeout=60)
    proxied = httpx.Client(timeout=60, headers={"Authorization": f"Bearer {key}"})
    sample = Sample([], [], set())
    try:
        for i in range(-WARMUP, count):
            # A prompt per pair: the simulator draws each (model, prompt, occurrence) anew.
            messages = [{"role": "user", "content": f"overhead probe {i}"}]
            body = {"messages": messages, "max_tokens": 64, "stream": stream}
            d_ms, d = timed_post(
                direct, f"{sim_url}/chat/completions", {**body, "model": SIM_MODEL}
            )
            p_ms, p = timed_post(
                proxied, f"{proxy_url}/v1/chat/completions", {**body, "model": VARIANT}
            )
            if i < 0:
                continue
            if d.status_code == 200:
                sample.direct_ms.append(d_ms)
            if p.status_code == 200:
                sample.proxy_ms.append(p_ms)
                if not stream:
                    sample.request_ids.add(p.json()["id"])
    finally:
        direct.close()
        proxied.close()
    return sample


def litellm_overheads(
    proxy_url: str, key: str, since: datetime, ids: set[str], stream: bool
) -> list[float]:
    """litellm_overhead_time_ms of this run's spend-log rows (written every second or so)."""
    found: dict[str, float] = {}
    deadline = time.monotonic() + 30
    with LiteLLMClient(proxy_url, key) as client:
        while time.monotonic() < deadline:
            until = datetime.now(UTC) + timedelta(minutes=1)
            for page in client.spend_logs_v2(start=since, end=until):
                for row in page:
                    overhead = (row.get("metadata") or {}).get("litellm_overhead_time_ms")
                    wanted = row.get("model_group") == VARIANT and row.get("status") == "success"
                    if overhead is not None and wanted and (stream or row["request_id"] in ids):
                        found[row["request_id"]] = float(overhead)
            if found and (stream or ids <= found.keys()):
                break
            time.sleep(1)
    return list(found.values())


def free_ports(sim_speed: float, **more: Any) -> StackOptions:
    """Stack options with a free loopback port for every part (proxy_scale.py uses it too)."""
    return StackOptions(
        proxy_port=free_port(),
        prometheus_port=free_port(),
        sim_port=free_port(),
        sim_speed=sim_speed,
        **more,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="calls per path (default 300)")
    parser.add_argument("--sim-speed", type=float, default=1000.0, help="simulator speed-up")
    parser.add_argument("--stream", action="store_true", help="streamed calls instead")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="benchctl-overhead-"))
    root.chmod(0o755)  # as root, pgserver runs PostgreSQL as another user
    for folder in FOLDERS:
        shutil.copytree(REPO / folder, root / folder)
    settings = Settings.from_env(root)
    repository = load_repository(root).repository
    options = free_ports(args.sim_speed)
    try:
        print("starting the stack (benchctl.stack.up) ...", file=sys.stderr)
        status = up(settings, repository, options=options)
        urls = {part.name: part.url for part in status.parts}
        key = master_key(settings.state_dir, create=False)
        assert key is not None
        since = datetime.now(UTC) - timedelta(seconds=2)
        sample = measure(urls["sim"], urls["proxy"], key, args.requests, args.stream)
        overheads = litellm_overheads(urls["proxy"], key, since, sample.request_ids, args.stream)
    finally:
        down(Settings.from_env(root))
        shutil.rmtree(root, ignore_errors=True)

    d50, p50 = statistics.median(sample.direct_ms), statistics.median(sample.proxy_ms)
    d95, x95 = p95(sample.direct_ms), p95(sample.proxy_ms)
    mode = "streamed" if args.stream else "non-streamed"
    print(
        f"proxy_overhead: {args.requests} {mode} chat completions per path, interleaved,"
        f" sim speed x{args.sim_speed:g}; successful calls: direct {len(sample.direct_ms)},"
        f" proxy {len(sample.proxy_ms)}"
    )
    print(f"{'path':<28} {'median ms':>10} {'p95 ms':>10}")
    print(f"{'simulator direct (baseline)':<28} {d50:>10.2f} {d95:>10.2f}")
    print(f"{'through LiteLLM proxy':<28} {p50:>10.2f} {x95:>10.2f}")
    print(
        f"added by the proxy: median {p50 - d50:+.2f} ms (x{p50 / d50:.2f}),"
        f" p95 {x95 - d95:+.2f} ms (x{x95 / d95:.2f})"
    )
    if overheads:
        print(
            f"LiteLLM's litellm_overhead_time_ms ({len(overheads)} spend-log rows):"
            f" median {statistics.median(overheads):.2f} ms, p95 {p95(overheads):.2f} ms"
        )
    else:
        print("LiteLLM's litellm_overhead_time_ms: no spend-log rows found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
