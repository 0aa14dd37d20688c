"""The report as data: what ``report.json`` holds, and the JSON Schema published for it.

``schemas/report.schema.json`` is generated from these models (``python -m
benchctl.report.model schemas``) and a test keeps the committed file in sync. Bump
``FORMAT_VERSION`` on any change that could break a reader: a renamed or removed field, a
changed meaning or unit.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 2
SCHEMA_FILE = "report.schema.json"

Metric = Literal["success_rate", "latency_ms", "ttft_ms", "tokens_per_s", "cost_per_success_usd"]
Verdict = Literal["better", "worse", "no_difference", "not_enough_data"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Interval(_Model):
    low: float
    high: float


class Window(_Model):
    """The data's own time span (UTC): the only timestamps a report carries."""

    first_request_at: datetime
    last_request_at: datetime


class Comparison(_Model):
    """One variant against the baseline on one metric."""

    metric: Metric
    variant: str = Field(description="Label of the variant compared (name, or name vN).")
    verdict: Verdict
    estimate: float | None = Field(
        description="success_rate: difference in proportion (0.1 = 10 points); other metrics:"
        " relative difference (0.3 = 30% more than the baseline). None without enough data."
    )
    interval: Interval | None = Field(
        description="95% paired interval of the estimate, over the task cards both ran."
    )
    baseline_value: float | None = Field(description="The baseline's figure on those tasks.")
    variant_value: float | None = Field(description="The variant's figure on those tasks.")
    n_baseline: int = Field(description="Sessions behind the baseline's figure.")
    n_variant: int = Field(description="Sessions behind the variant's figure.")
    tasks: int = Field(description="Task cards both ran: the units the comparison pairs.")
    method: Literal["paired cluster bootstrap", "McNemar exact"] | None = Field(
        description="Where the p-value comes from."
    )
    p_value: float | None = Field(description="Two-sided, before the correction.")
    significant: bool = Field(
        description="Holm's correction across the variants compared on this metric rejects"
        " no difference: only then is the verdict better or worse."
    )
    variant_only: list[str] = Field(
        default_factory=list,
        description="success_rate: task cards the variant solves more often than the baseline.",
    )
    baseline_only: list[str] = Field(
        default_factory=list,
        description="success_rate: task cards the baseline solves more often than the variant.",
    )
    mde: float | None = Field(
        default=None,
        description="success_rate: smallest difference this paired comparison detects at 80%"
        " power, alpha 0.05, from the observed spread of per-task differences.",
    )


class MetricSummary(_Model):
    """The verdict on one metric, first thing in the report."""

    metric: Metric
    title: str
    better: Literal["lower", "higher"]
    outcome: Literal["winner", "baseline", "no_difference", "not_enough_data", "no_baseline"] = (
        Field(
            description="winner: a variant beats the baseline; baseline: none beats it and"
            " some are worse; no_difference: no difference survives Holm's correction;"
            " not_enough_data: no comparison has enough task cards in common; no_baseline: the"
            " baseline has no figure."
        )
    )
    winner: str | None = Field(description="The best variant's label (winner or baseline).")
    comparison: Comparison | None = Field(description="The winner's comparison (winner only).")
    note: str = ""


class Figures(_Model):
    """Figures of a variant, or of a variant on one task card (from the rollups views)."""

    sessions: int
    sessions_with_outcome: int = Field(
        description="Sessions whose outcome counts: verified, or self-reported where the"
        " experiment includes those."
    )
    sessions_succeeded: int
    sessions_verified: int = Field(description="Sessions with an outcome a verifier measured.")
    sessions_self_reported: int = Field(description="Sessions with an outcome the operator typed.")
    success_rate: float | None
    success_interval: Interval | None = Field(description="Wilson score 95% interval.")
    session_duration_p50_s: float | None
    cost_per_success_usd: float | None
    requests: int
    errors: int = Field(description="Upstream errors: the provider's (rate limits, 5xx...).")
    refused: int = Field(
        description="Calls the proxy refused (revoked key, exhausted budget, a model the key may"
        " not use): the harness's configuration or the policy, not the provider."
    )
    cancelled: int = Field(description="Calls the client cancelled (a stream cut short).")
    error_rate: float | None
    latency_p50_ms: float | None
    latency_p90_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    ttft_p50_ms: float | None
    ttft_p90_ms: float | None
    ttft_p95_ms: float | None
    ttft_p99_ms: float | None
    ttft_measured: int = Field(description="Successful calls whose TTFT was measured.")
    tokens_per_s_p50: float | None
    overhead_p50_ms: float | None
    overhead_p95_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    cached_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cache_hit_ratio: float | None
    cost_usd: float
    litellm_spend_usd: float


class TtftQuality(_Model):
    """How the TTFT of successful calls was obtained; only `measured` enters TTFT figures."""

    measured: int
    missing: int
    equal_to_total: int


class PassK(_Model):
    k: int
    pass_at_k: float = Field(description="Chance at least one of k attempts succeeds.")
    pass_hat_k: float = Field(description="Chance all k attempts succeed (pass^k).")


class TaskLevel(_Model):
    """A variant's figures with the task card as the unit: the mean over task cards of each
    task's figure over its attempts, with a cluster bootstrap over task cards."""

    tasks: int = Field(description="Task cards with an outcome that counts.")
    success_rate: float | None
    success_interval: Interval | None = Field(description="Cluster bootstrap, 95%.")
    success_se: float | None = Field(description="CLT standard error over task cards.")
    mean_reward: float | None = Field(description="Verified outcomes' rewards, same way.")
    reward_interval: Interval | None
    cost_per_success_usd: float | None = Field(
        description="What its counted sessions cost over their successes."
    )
    cost_per_success_interval: Interval | None = Field(description="Cluster bootstrap, 95%.")
    latency_ms: float | None = Field(
        description="Mean over task cards of the median of their sessions' median call latency."
    )
    latency_interval: Interval | None
    ttft_ms: float | None = Field(description="The same, for measured TTFT.")
    ttft_interval: Interval | None
    tokens_per_s: float | None = Field(description="The same, for output tokens/s.")
    tokens_per_s_interval: Interval | None
    pass_k: list[PassK] = Field(description="For k up to the fewest attempts of a task.")


class VariantReport(_Model):
    variant: str
    version: int
    label: str
    baseline: bool
    listed: bool = Field(description="Listed in the experiment's current manifest.")
    figures: Figures
    mean_session_cost_usd: float | None
    ttft_quality: TtftQuality
    cost_missing: int = Field(description="Calls without a recomputed cost (counted as 0).")
    tag_mismatches: int
    task_level: TaskLevel
    comparisons: list[Comparison]


class TaskReport(_Model):
    variant: str
    version: int
    label: str
    task_card: str
    figures: Figures


class Chart(_Model):
    name: str
    path: str = Field(description="Relative to the report's folder.")
    title: str


class Methods(_Model):
    unit: Literal["task card"] = "task card"
    confidence: float
    bootstrap_resamples: int
    bootstrap_seed: str
    min_tasks: int = Field(description="Task cards in common a comparison needs.")
    correction: Literal["holm"] = Field(
        default="holm", description="Across the variants compared with the baseline, per metric."
    )
    power: float
    cost_basis: Literal["recomputed"] = Field(
        default="recomputed",
        description="Costs are recomputed from each call's usage and the provider's prices.",
    )
    cost_tolerance: float = Field(description="Relative gap at which two costs disagree.")
    histogram_bins_per_decade: int


class Attrition(_Model):
    """A variant's headless sessions: what infrastructure cost them, kept apart from results
    (an attempt lost to infrastructure is retried, never scored as the agent's failure)."""

    variant: str = Field(description="The variant's label.")
    sessions: int = Field(description="Headless sessions of the variant.")
    attempts: int = Field(description="Attempts `benchctl run` made at them.")
    infrastructure_failures: int = Field(
        description="Attempts lost to infrastructure: setup failed, harness missing, proxy"
        " unreachable, runner killed (its lease lapsed)."
    )
    aborted: int = Field(description="Sessions aborted after using every attempt: unscored.")
    timed_out: int = Field(
        description="Scored attempts whose harness hit the timebox: verified all the same."
    )
    unscored: int = Field(description="Finished sessions the verifier could not score.")
    pending: int = Field(description="Sessions not yet run.")


class CostAccuracy(_Model):
    """A variant's cost three ways, and how far the other two are from the one reports use."""

    variant: str = Field(description="The variant's label.")
    sessions: int
    recomputed_usd: float = Field(
        description="From usage and the provider's prices: reports use it."
    )
    litellm_usd: float = Field(description="LiteLLM's own `spend` of the same calls.")
    litellm_relative: float | None = Field(
        description="(LiteLLM - recomputed) / recomputed over the sessions; None at $0."
    )
    litellm_disagree: int = Field(description="Sessions beyond the tolerance.")
    harness_sessions: int = Field(description="Sessions with the harness's own account.")
    harness_usd: float | None
    harness_relative: float | None
    harness_disagree: int


class Design(_Model):
    """What this experiment's design can tell apart."""

    tasks: int = Field(description="Task cards of the experiment.")
    attempts: int = Field(description="Attempts per task card and variant (replicates).")
    mde_success_rate: float | None = Field(
        description="Smallest success-rate difference a paired comparison of this design"
        " detects at 80% power, alpha 0.05, from the baseline's per-task rates."
    )


class Report(_Model):
    format_version: Literal[2] = 2
    experiment: str
    experiment_version: int
    retired: bool
    description: str
    hypothesis: str
    baseline: str = Field(description="The baseline variant's label.")
    self_reported_outcomes: Literal["exclude", "include"] = Field(
        description="Whether success rates count outcomes the operator typed, or only verified."
    )
    window: Window | None
    headline: str
    totals: Figures | None = Field(description="The whole experiment.")
    summary: list[MetricSummary]
    variants: list[VariantReport]
    tasks: list[TaskReport]
    design: Design
    cost_accuracy: list[CostAccuracy]
    attrition: list[Attrition] = Field(
        description="Per variant, for experiments run headless; empty otherwise."
    )
    charts: list[Chart]
    methods: Methods
    caveats: list[str]


def report_schema() -> dict[str, Any]:
    schema = Report.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "benchctl report",
    }


def render_schema() -> str:
    return json.dumps(report_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """``python -m benchctl.report.model [schemas-dir]``: write (or, with --check, compare)."""
    check = "--check" in argv
    folder = Path(next((a for a in argv if not a.startswith("--")), "schemas"))
    path = folder / SCHEMA_FILE
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if current == render_schema():
        print(f"{path} is up to date.")
        return 0
    if check:
        print(f"{path} is out of date; run `python -m benchctl.report.model`.", file=sys.stderr)
        return 1
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(render_schema(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
