"""pytest plugin: a real Prometheus scraping the test LiteLLM proxy's ``/metrics/`` every second.

``prometheus`` (session scope) starts Debian's ``prometheus`` binary (CI installs it) with a
throw-away TSDB on a free loopback port. Without the binary the tests that use it are skipped,
except under ``CI=true``, where they fail: CI must run them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import httpx
import pytest

from benchctl.errors import StackError
from benchctl.stack.parts import start_prometheus, stop_process
from benchctl.stack.prometheus import render_scrape_config
from benchctl.stack.state import stack_dir

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
    """Started the way `benchctl up` starts it, scraping the test proxy every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        _unavailable("no `prometheus` on PATH (Debian: apt-get install prometheus)")
    workdir = tmp_path_factory.mktemp("prometheus")
    stack_dir(workdir).mkdir(parents=True)
    config = render_scrape_config(
        [urlsplit(litellm_proxy.url).netloc], scrape_interval=SCRAPE_INTERVAL
    )
    try:
        record = start_prometheus(
            workdir, binary, config, port=free_port(), timeout=STARTUP_TIMEOUT_S
        )
    except StackError as exc:
        _unavailable(str(exc))
    try:
        yield PrometheusStack(url=record.url, log_path=Path(str(record.log_path)))
    finally:
        stop_process(record)
