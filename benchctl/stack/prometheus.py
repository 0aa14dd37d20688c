"""Prometheus scrape config for the LiteLLM proxy's metrics.

LiteLLM serves its metrics at ``/metrics/``: ``/metrics`` answers with a redirect, which
Prometheus would follow but count as a failed scrape on some versions, so the path carries the
trailing slash. The rendered config needs ``require_auth_for_metrics_endpoint: false`` in the
proxy config, which ``benchctl.litellm.config.render_config`` sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

METRICS_PATH = "/metrics/"
JOB_NAME = "litellm"
# Short enough that a local benchmark session of a few minutes has a curve, long enough to
# keep the proxy's cost of rendering its metrics negligible.
SCRAPE_INTERVAL = "5s"


def render_scrape_config(
    targets: Sequence[str], *, scrape_interval: str = SCRAPE_INTERVAL
) -> dict[str, Any]:
    """A prometheus.yml scraping the proxies at ``targets`` (``host:port``)."""
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [
            {
                "job_name": JOB_NAME,
                "metrics_path": METRICS_PATH,
                "static_configs": [{"targets": list(targets)}],
            }
        ],
    }


def dump_scrape_config(config: dict[str, Any]) -> str:
    header = (
        "# Prometheus config rendered by `benchctl up`: scrapes the LiteLLM proxy's metrics.\n"
        "# Do not edit: `benchctl up` writes it again whenever it starts Prometheus.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
