"""What LiteLLM's multi-instance settings cost one proxy instance, setting by setting.

    python bench/proxy_settings.py [--rounds 2] [--seconds 15] [--concurrency 32]

Starts the local stack as `benchctl up` does (one instance) in a temporary copy of the example
manifests, a Redis beside it, and 16 keys. Then, per round, starts one more instance with each
set of settings in turn (none; `coordination_redis`; with `enable_redis_auth_cache`; with
`use_redis_transaction_buffer`; all four, as `render litellm-config --redis` writes them) and
measures successful calls per second through it alone, as bench/proxy_scale.py does. Rounds
interleave the configurations, so a change in the machine's load shows as spread between
rounds rather than as a difference between settings.

Stops everything it started, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import shutil
import sys
from typing import Any

from proxy_overhead import free_ports
from proxy_scale import VARIANT, closed_loop, scratch_copy

from benchctl.litellm.client import LiteLLMClient
from benchctl.litellm.config import with_redis
from benchctl.manifests.loader import load_repository
from benchctl.settings import Settings
from benchctl.stack import down, parts, up
from benchctl.stack.processes import free_port
from benchctl.stack.state import load_state, master_key

SETS = {
    "no Redis settings": (),
    "coordination_redis": ("coordination_redis",),
    "+ enable_redis_auth_cache": ("coordination_redis", "enable_redis_auth_cache"),
    "+ use_redis_transaction_buffer": ("coordination_redis", "use_redis_transaction_buffer"),
    "all (render --redis)": ("coordination_redis", "enable_redis_auth_cache",
                             "use_redis_transaction_buffer", "user_api_key_cache_ttl"),
}  # fmt: skip


def configured(base: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """``base`` with only the named settings of `with_redis` added."""
    full, config = with_redis(base), copy.deepcopy(base)
    for section in ("general_settings", "litellm_settings"):
        for name in names:
            if name in full[section]:
                config[section][name] = full[section][name]
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds over all sets (default 2)")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each measurement")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients")
    args = parser.parse_args()

    root = scratch_copy("benchctl-proxy-settings-")
    options = free_ports(1000.0, redis_port=free_port(), proxies=1)
    state_dir = root / ".benchctl"
    redis_bin = shutil.which("redis-server")
    if redis_bin is None:
        raise SystemExit("needs `redis-server` on PATH (Debian: apt-get install redis-server)")
    redis = None
    results: dict[str, list[float]] = {name: [] for name in SETS}
    try:
        repository = load_repository(root).repository
        up(Settings.from_env(root), repository, options=options)
        redis = parts.start_redis(state_dir, redis_bin, port=options.redis_port, timeout=30)
        state = load_state(state_dir)
        proxy, key = state.parts["proxy"], master_key(state_dir, create=False)
        assert key is not None and proxy.database_url is not None
        with LiteLLMClient(proxy.url, key) as client:
            keys = [
                client.generate_key(
                    alias=f"settings-{i}", models=[VARIANT], duration_seconds=3600,
                    max_budget=1e6, metadata={},
                ).key
                for i in range(16)
            ]  # fmt: skip
        base = parts.proxy_config(repository, state)
        for round_ in range(args.rounds):
            for name, settings in SETS.items():
                [instance] = parts.start_proxies(
                    state_dir, configured(base, settings), ports={"proxy-bench": free_port()},
                    master_key=key, database_url=proxy.database_url, redis=redis.url,
                    timeout=180,
                )  # fmt: skip
                try:
                    pairs = [(instance.url, k) for k in keys]
                    asyncio.run(closed_loop(pairs, args.concurrency, 3.0))  # warm-up
                    load = asyncio.run(closed_loop(pairs, args.concurrency, args.seconds))
                finally:
                    parts.stop_process(instance)
                results[name].append(load.rate)
                print(
                    f"round {round_ + 1} {name:<32} {load.rate:6.1f} calls/s"
                    f" (load average {os.getloadavg()[0]:.1f})",
                    file=sys.stderr,
                )
    finally:
        if redis is not None:
            parts.stop_process(redis)
        down(Settings.from_env(root))
        shutil.rmtree(root, ignore_errors=True)

    print(
        f"proxy_settings: one instance, {args.concurrency} clients, {args.seconds:g}s each,"
        f" {os.cpu_count()} CPU(s)"
    )
    header = "".join(f" {f'round {r + 1}':>9}" for r in range(args.rounds))
    print(f"{'settings':<32}{header}  calls/s")
    for name, rates in results.items():
        print(f"{name:<32}" + "".join(f" {rate:>9.1f}" for rate in rates))
    return 0


if __name__ == "__main__":
    sys.exit(main())
