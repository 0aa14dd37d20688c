"""pytest plugin: a real Prometheus scraping the test LiteLLM proxy's ``/metrics/`` every second.

``prometheus`` (session scope) starts Debian's ``prometheus`` binary (CI installs it) with a
throw-away TSDB on a free loopback port. Without the binary the tests that use it are skipped,
except under ``CI=true``, where they fail: CI must run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import httpx
import pytest

from proxy_stack import ProxyStack, free_port

STARTUP_TIMEOUT_S = 30.0
SCRAPE_INTERVAL = "1s"


@dataclass(frozen=True)
class PrometheusStack:
    url: str
    log_path: Path

    def query(self, promql: str) -> list[dict]:
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        answer.raise_for_status()
        result: list[dict] = answer.json()["data"]["result"]
        return result


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"Prometheus is required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def prometheus(
    litellm_proxy: ProxyStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusStack]:
    binary = shutil.which("prometheus")
    if binary is None:
        _unavailable("no `prometheus` on PATH (Debian: apt-get install prometheus)")
    workdir = tmp_path_factory.mktemp("prometheus")
    target = urlsplit(litellm_proxy.url).netloc
    config = workdir / "prometheus.yml"
    config.write_text(
        f"global:\n  scrape_interval: {SCRAPE_INTERVAL}\n"
        "scrape_configs:\n"
        "  - job_name: litellm\n"
        # /metrics redirects (307) to /metrics/.
        "    metrics_path: /metrics/\n"
        f"    static_configs:\n      - targets: ['{target}']\n",
        encoding="utf-8",
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_ready(process, url, log_path)
        yield PrometheusStack(url=url, log_path=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
            _unavailable(f"prometheus exited with code {process.returncode}:\n" + "\n".join(tail))
        try:
            if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    _unavailable(f"prometheus was not ready within {STARTUP_TIMEOUT_S:g}s; see {log_path}")
