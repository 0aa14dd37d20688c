"""LiteLLM's latency histograms per key alias, from Prometheus (``BENCHCTL_PROMETHEUS_URL``).

Spend logs carry one TTFT per request and get it wrong on some routes; the proxy's histograms
time the same calls independently. One instant query reads, for every key alias of this
database, the cumulative buckets, sums and counts of total latency, time to first token and
LiteLLM's own overhead, and they replace the aliases' earlier samples. Prometheus is optional:
without it, or when it does not answer, the collector says so and carries on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from prometheus_api_client.exceptions import (
    PrometheusApiClientException,
)
from prometheus_api_client.prometheus_connect import (
    PrometheusConnect,
)

from benchctl.db.connection import Connection
from benchctl.db.queries import query

# Names as LiteLLM 1.106.2 exports them (captured-api/selftest/metrics_excerpt.txt); seconds.
HISTOGRAMS = (
    "litellm_request_total_latency_metric",
    "litellm_llm_api_time_to_first_token_metric",
    "litellm_overhead_latency_metric",
)
TIMEOUT_S = 10


@dataclass(frozen=True)
class Sample:
    key_alias: str
    metric: str
    le: float
    value: float


@dataclass(frozen=True)
class PrometheusResult:
    status: str
    key_aliases: int = 0
    samples: int = 0


def promql(alias_prefix: str) -> str:
    """Buckets, sums and counts of every histogram, summed over everything but alias and bound."""
    names = "|".join(HISTOGRAMS)
    return (
        f'sum by (__name__, api_key_alias, le) ({{__name__=~"({names})_(bucket|sum|count)",'
        f' api_key_alias=~"{alias_prefix}.*"}})'
    )


def samples(result: list[dict[str, Any]]) -> list[Sample]:
    """Samples from an instant-query result; ``<name>_bucket`` becomes ``<name>`` with its
    bound, ``_sum`` and ``_count`` keep their names with bound +Inf."""
    found = []
    for series in result:
        labels = series.get("metric", {})
        name, alias = labels.get("__name__", ""), labels.get("api_key_alias")
        if not alias:
            continue
        value = float(series["value"][1])
        if name.endswith("_bucket"):
            found.append(Sample(alias, name.removesuffix("_bucket"), float(labels["le"]), value))
        else:
            found.append(Sample(alias, name, math.inf, value))
    return sorted(found, key=lambda s: (s.key_alias, s.metric, s.le))


def collect_prometheus(conn: Connection, url: str | None, alias_prefix: str) -> PrometheusResult:
    if url is None:
        return PrometheusResult("not configured (set BENCHCTL_PROMETHEUS_URL to read histograms)")
    try:
        client = PrometheusConnect(url=url, disable_ssl=True, timeout=TIMEOUT_S)
        try:
            result = client.custom_query(promql(alias_prefix))
        finally:
            client.close()
    except (requests.RequestException, PrometheusApiClientException) as exc:
        return PrometheusResult(f"unavailable at {url} ({type(exc).__name__}); skipped")
    found = samples(result)
    observed = datetime.now(UTC)
    with conn.transaction():
        aliases = sorted({s.key_alias for s in found})
        conn.execute(query("collect.delete_prometheus"), {"key_alias": aliases})
        conn.execute(
            query("collect.insert_prometheus"),
            {
                "key_alias": [s.key_alias for s in found],
                "metric": [s.metric for s in found],
                "le": [s.le for s in found],
                "value": [s.value for s in found],
                "observed_at": [observed] * len(found),
            },
        )
    return PrometheusResult(
        f"{len(found)} samples for {len(aliases)} key alias(es)", len(aliases), len(found)
    )
