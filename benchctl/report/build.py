"""From what the database holds (``data.ReportData``) to the report (``model.Report``).

A variant appears once per version that has sessions (a replaced variant is another
benchmark), labelled ``name vN`` only when two versions of one name meet in a report. The
baseline is the newest version of the baseline variant that has sessions. Variants come in the
manifest's order, baseline first, then variants no longer listed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Literal

from benchctl.report import stats, taskstats, units
from benchctl.report.data import BINS_PER_DECADE, ReportData, Row
from benchctl.report.model import (
    Attrition,
    Comparison,
    CostAccuracy,
    Design,
    Figures,
    Interval,
    Methods,
    Metric,
    MetricSummary,
    PassK,
    Report,
    TaskLevel,
    TaskReport,
    TtftQuality,
    VariantReport,
    Window,
)

Unit = tuple[str, int]


@dataclass(frozen=True)
class MetricSpec:
    metric: Metric
    title: str
    better: stats.Direction
    # Column of report.sessions the bootstrap resamples; None for the success rate.
    column: str | None


METRICS = (
    MetricSpec("success_rate", "Success rate", "higher", None),
    MetricSpec("latency_ms", "Latency (median call)", "lower", "latency_p50_ms"),
    MetricSpec("ttft_ms", "Time to first token", "lower", "ttft_p50_ms"),
    MetricSpec("tokens_per_s", "Output tokens/s", "higher", "tokens_per_s_p50"),
    MetricSpec("cost_per_success_usd", "Cost per successful task", "lower", "cost_usd"),
)

_INTS = (
    "sessions",
    "sessions_with_outcome",
    "sessions_succeeded",
    "sessions_verified",
    "sessions_self_reported",
    "requests",
    "errors",
    "refused",
    "cancelled",
    "ttft_measured",
    "prompt_tokens",
    "completion_tokens",
    "cached_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


def figures(row: Row | None) -> Figures:
    """A rollups row as Figures; a variant without sessions gets zeros and blanks."""
    values: dict[str, Any] = {name: None for name in Figures.model_fields}
    values.update({name: 0 for name in _INTS}, cost_usd=0.0, litellm_spend_usd=0.0)
    if row is not None:
        values.update({k: v for k, v in row.items() if k in values and v is not None})
        values["ttft_measured"] = int(row.get("ttft_measured") or 0)
    interval = stats.wilson(values["sessions_succeeded"], values["sessions_with_outcome"])
    values["success_interval"] = (
        Interval(low=interval.low, high=interval.high) if interval else None
    )
    return Figures(**values)


def _labels(units_: Sequence[Unit]) -> dict[Unit, str]:
    versions: dict[str, int] = defaultdict(int)
    for name, _ in units_:
        versions[name] += 1
    return {(n, v): n if versions[n] == 1 else f"{n} v{v}" for n, v in units_}


def _order(data: ReportData, present: set[Unit], baseline: Unit | None) -> list[Unit]:
    listed = data.experiment.variants
    position = {name: i for i, name in enumerate(listed)}

    def key(unit: Unit) -> tuple[int, int, str, int]:
        name, version = unit
        return (
            0 if unit == baseline else 1,
            position.get(name, len(listed)),
            name,
            -version,
        )

    return sorted(present, key=key)


def _by_task(rows: Sequence[Row], value: Callable[[Row], Any]) -> dict[str, list[Any]]:
    """Each task card's attempts: ``value`` of each session that has one."""
    tasks: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        found = value(row)
        if found is not None:
            tasks[row["task_card"]].append(found)
    return dict(tasks)


def _outcomes(rows: Sequence[Row]) -> dict[str, list[bool]]:
    return _by_task(rows, lambda r: r["outcome"] == "success" if r["outcome"] else None)


def _costs(rows: Sequence[Row]) -> dict[str, list[tuple[float, bool]]]:
    return _by_task(
        rows, lambda r: (r["cost_usd"], r["outcome"] == "success") if r["outcome"] else None
    )


def _median_of_tasks(tasks: Sequence[Sequence[float]]) -> float | None:
    """Mean over task cards of the median of each task's session figures."""
    per_task = [m for m in (stats.median(list(a)) for a in tasks) if m is not None]
    return stats.mean(per_task) if per_task else None


def _cost_per_success(tasks: Sequence[Sequence[tuple[float, bool]]]) -> float | None:
    return stats.cost_per_success([pair for attempts in tasks for pair in attempts])


def _attempts(spec: MetricSpec, rows: Sequence[Row]) -> dict[str, list[Any]]:
    """Each task card's attempts as the metric needs them."""
    if spec.metric == "success_rate":
        return _outcomes(rows)
    if spec.metric == "cost_per_success_usd":
        return _costs(rows)
    column = spec.column
    assert column is not None
    return _by_task(rows, lambda r: r[column])


def _statistic(spec: MetricSpec) -> Callable[[Sequence[Sequence[Any]]], float | None]:
    if spec.metric == "success_rate":
        return taskstats.success_rate
    if spec.metric == "cost_per_success_usd":
        return _cost_per_success
    return _median_of_tasks


def _compare(
    spec: MetricSpec, label: str, base_label: str, base: Sequence[Row], other: Sequence[Row]
) -> Comparison:
    ours, theirs = _attempts(spec, base), _attempts(spec, other)
    key = (base_label, label)
    if spec.metric == "success_rate":
        found = taskstats.paired_success(ours, theirs, key)
    else:
        found = taskstats.paired(
            ours, theirs, statistic=_statistic(spec), difference="relative",
            key=(spec.metric, *key),
        )  # fmt: skip
    common = sorted(set(ours) & set(theirs))
    statistic = _statistic(spec)
    return Comparison(
        metric=spec.metric,
        variant=label,
        verdict="not_enough_data" if found.interval is None else "no_difference",
        estimate=found.estimate if found.interval is not None else None,
        interval=Interval(low=found.interval.low, high=found.interval.high)
        if found.interval
        else None,
        baseline_value=statistic([ours[t] for t in common]) if common else None,
        variant_value=statistic([theirs[t] for t in common]) if common else None,
        n_baseline=sum(len(ours[t]) for t in common),
        n_variant=sum(len(theirs[t]) for t in common),
        tasks=found.tasks,
        method=found.method,
        p_value=found.p_value,
        significant=False,
        variant_only=found.variant_only,
        baseline_only=found.baseline_only,
        mde=found.mde,
    )


def _corrected(spec: MetricSpec, comparisons: list[Comparison]) -> list[Comparison]:
    """Holm's step-down across the variants compared on one metric: a verdict of better or
    worse needs the corrected test to reject no difference (and the interval to exclude 0)."""
    tested = {c.variant: c.p_value for c in comparisons if c.p_value is not None}
    rejected = taskstats.holm(tested)
    out = []
    for c in comparisons:
        if c.interval is None or c.estimate is None:
            out.append(c)
            continue
        significant = rejected.get(c.variant, False) and (c.interval.low > 0 or c.interval.high < 0)
        verdict: Literal["better", "worse", "no_difference"] = "no_difference"
        if significant:
            higher = c.estimate > 0
            verdict = "better" if higher == (spec.better == "higher") else "worse"
        out.append(c.model_copy(update={"significant": significant, "verdict": verdict}))
    return out


# Two accounts of one session's cost agree within this share (and a tenth of a cent): the
# cost_ledger view's rule, which flags each session.
COST_TOLERANCE = 0.05


def _relative(ours: float, theirs: float) -> float | None:
    return theirs / ours - 1 if ours > 0 else None


def _cost_accuracy(data: ReportData, labels: dict[Unit, str]) -> list[CostAccuracy]:
    by_unit: dict[Unit, list[Row]] = defaultdict(list)
    for row in data.ledger:
        by_unit[(row["variant"], row["variant_version"])].append(row)
    found = []
    for unit, label in labels.items():
        rows = by_unit.get(unit, [])
        if not rows:
            continue
        ours = math.fsum(r["recomputed_usd"] for r in rows)
        litellm = math.fsum(r["litellm_usd"] for r in rows)
        accounted = [r for r in rows if r["harness_usd"] is not None]
        harness = math.fsum(r["harness_usd"] for r in accounted) if accounted else None
        ours_accounted = math.fsum(r["recomputed_usd"] for r in accounted)
        found.append(
            CostAccuracy(
                variant=label,
                sessions=len(rows),
                recomputed_usd=ours,
                litellm_usd=litellm,
                litellm_relative=_relative(ours, litellm),
                litellm_disagree=sum(1 for r in rows if r["litellm_disagrees"]),
                harness_sessions=len(accounted),
                harness_usd=harness,
                harness_relative=None if harness is None else _relative(ours_accounted, harness),
                harness_disagree=sum(1 for r in accounted if r["harness_disagrees"]),
            )
        )
    return found


def _attrition(data: ReportData, labels: dict[Unit, str]) -> list[Attrition]:
    by_unit = {(r["variant"], r["variant_version"]): r for r in data.attrition}
    fields = set(Attrition.model_fields) - {"variant"}
    return [
        Attrition(variant=label, **{f: by_unit[unit][f] for f in fields})
        for unit, label in labels.items()
        if unit in by_unit
    ]


def _design(task_cards: Sequence[str], replicates: int, base_rows: Sequence[Row]) -> Design:
    observed = [(sum(a), len(a)) for a in _outcomes(base_rows).values()]
    return Design(
        tasks=len(task_cards),
        attempts=replicates,
        mde_success_rate=taskstats.design_mde(observed, replicates, len(task_cards)),
    )


def _task_level(unit_rows: Sequence[Row], label: str) -> TaskLevel:
    outcomes = _outcomes(unit_rows)
    rewards = _by_task(unit_rows, lambda r: r["reward"] if r["outcome"] else None)
    costs = _costs(unit_rows)
    latency = _by_task(unit_rows, lambda r: r["latency_p50_ms"])
    ttft = _by_task(unit_rows, lambda r: r["ttft_p50_ms"])
    throughput = _by_task(unit_rows, lambda r: r["tokens_per_s_p50"])
    per_task = [taskstats.task_rate(a) for a in outcomes.values()]

    def interval(found: stats.Interval | None) -> Interval | None:
        return Interval(low=found.low, high=found.high) if found else None

    return TaskLevel(
        tasks=len(outcomes),
        success_rate=taskstats.success_rate(list(outcomes.values())),
        success_interval=interval(
            taskstats.cluster_interval(outcomes, taskstats.success_rate, ("success", label))
        ),
        success_se=taskstats.clt_se(per_task),
        mean_reward=taskstats.mean_of_tasks(list(rewards.values())),
        reward_interval=interval(
            taskstats.cluster_interval(rewards, taskstats.mean_of_tasks, ("reward", label))
        ),
        cost_per_success_usd=_cost_per_success(list(costs.values())),
        cost_per_success_interval=interval(
            taskstats.cluster_interval(costs, _cost_per_success, ("cost", label))
        ),
        latency_ms=_median_of_tasks(list(latency.values())),
        latency_interval=interval(
            taskstats.cluster_interval(latency, _median_of_tasks, ("latency", label))
        ),
        ttft_ms=_median_of_tasks(list(ttft.values())),
        ttft_interval=interval(taskstats.cluster_interval(ttft, _median_of_tasks, ("ttft", label))),
        tokens_per_s=_median_of_tasks(list(throughput.values())),
        tokens_per_s_interval=interval(
            taskstats.cluster_interval(throughput, _median_of_tasks, ("tokens", label))
        ),
        pass_k=[
            PassK(k=k, pass_at_k=at, pass_hat_k=hat)
            for k, at, hat in taskstats.pass_curves(outcomes)
        ],
    )


def _summary(
    spec: MetricSpec,
    base_label: str,
    base_has_data: bool,
    comparisons: Sequence[Comparison],
    design: Design,
) -> MetricSummary:
    sign = 1 if spec.better == "higher" else -1

    def summary(
        outcome: Literal["winner", "baseline", "no_difference", "not_enough_data", "no_baseline"],
        winner: str | None = None,
        comparison: Comparison | None = None,
        note: str = "",
    ) -> MetricSummary:
        return MetricSummary(
            metric=spec.metric,
            title=spec.title,
            better=spec.better,
            outcome=outcome,
            winner=winner,
            comparison=comparison,
            note=note,
        )

    if not base_has_data:
        return summary("no_baseline", note=f"the baseline {base_label} has no figure")
    judged = [c for c in comparisons if c.verdict != "not_enough_data"]
    if not judged:
        return summary(
            "not_enough_data",
            note=f"fewer than {taskstats.MIN_TASKS} task cards in common with the baseline",
        )
    better = [c for c in judged if c.verdict == "better"]
    if better:
        best = max(better, key=lambda c: (sign * (c.estimate or 0), c.variant))
        note = "" if len(better) == 1 else "several variants beat the baseline; best estimate"
        return summary("winner", best.variant, best, note)
    worse = [c.variant for c in judged if c.verdict == "worse"]
    if worse:
        return summary("baseline", base_label, note="worse: " + ", ".join(worse))
    note = "no difference survives Holm's correction"
    if spec.metric == "success_rate" and design.mde_success_rate is not None:
        # "No difference" from a small benchmark means "too small to tell", not "the same".
        note += (
            f"; this design detects differences of about {units.points(design.mde_success_rate)}"
            " or more"
        ).replace("+", "")
    return summary("no_difference", note=note)


def _caveats(data: ReportData, variants: Sequence[VariantReport], base_label: str) -> list[str]:
    caveats = []
    excluded = data.experiment.self_reported_outcomes == "exclude"
    overhead = [v for v in variants if v.figures.overhead_p50_ms is not None]
    if overhead:
        parts = ", ".join(
            f"{v.label} {units.number(v.figures.overhead_p50_ms)} ms"
            f" (p95 {units.number(v.figures.overhead_p95_ms)} ms)"
            for v in overhead
        )
        caveats.append(
            "Latency and TTFT are measured at the LiteLLM proxy and include its own overhead,"
            f" median per call: {parts}."
        )
    elif any(v.figures.requests for v in variants):
        caveats.append("The proxy reported no overhead figures: latency includes an unknown share.")
    for v in variants:
        q = v.ttft_quality
        unmeasured = q.missing + q.equal_to_total
        if unmeasured and q.measured:
            caveats.append(
                f"TTFT of {v.label} rests on {q.measured:,} of {q.measured + unmeasured:,}"
                f" successful calls; the other {unmeasured:,} were not measured"
                f" ({q.missing:,} missing, {q.equal_to_total:,} reported equal to the total"
                " latency) and are left out (marked †)."
            )
        elif unmeasured:
            caveats.append(
                f"TTFT of {v.label} was never measured ({q.missing:,} missing,"
                f" {q.equal_to_total:,} reported equal to the total latency): no TTFT figure."
            )
        if v.cost_missing:
            caveats.append(
                f"{v.cost_missing:,} call(s) of {v.label} have no recomputed cost (no price for"
                " the model) and count as $0."
            )
        if v.figures.refused:
            caveats.append(
                f"{v.figures.refused:,} call(s) of {v.label} were refused by the proxy (a revoked"
                " key, an exhausted budget or a model the key may not use): a matter of the"
                " harness's configuration or the policy, left out of its error rate."
            )
        if v.figures.cancelled:
            caveats.append(
                f"{v.figures.cancelled:,} call(s) of {v.label} were cancelled by the client; they"
                " count with the tokens they were billed, not as errors."
            )
        if v.tag_mismatches:
            caveats.append(
                f"{v.tag_mismatches:,} call(s) of {v.label} carried tags of another session; they"
                " are attributed by key, as always."
            )
        if v.figures.sessions == 0:
            caveats.append(f"{v.label} has no sessions yet.")
        elif v.figures.sessions_with_outcome < v.figures.sessions:
            uncounted = v.figures.sessions_self_reported if excluded else 0
            open_ = v.figures.sessions - v.figures.sessions_with_outcome - uncounted
            if open_:
                caveats.append(
                    f"{open_:,} session(s) of {v.label} have no outcome yet: the success rate"
                    " and cost per successful task count only judged sessions."
                )
            if uncounted:
                caveats.append(
                    f"{uncounted:,} session(s) of {v.label} have a self-reported outcome, which"
                    " this experiment does not count (spec.self_reported_outcomes: exclude):"
                    " its success rate and cost per successful task use verified outcomes only."
                )
    labels = {(v.variant, v.version): v.label for v in variants}
    for gap in data.spend_log_gaps:
        label = labels.get((gap["variant"], gap["variant_version"]), gap["variant"])
        caveats.append(
            f"Prometheus counted {gap['missing']:,} successful call(s) of {label}, in"
            f" {gap['sessions']:,} session(s), that LiteLLM's spend logs lack: possible dropped"
            " spend rows, so its calls and cost may be under-counted."
        )
    base = next((v for v in variants if v.label == base_label), None)
    if base is None or base.figures.sessions == 0:
        caveats.append(
            f"The baseline {base_label} has no sessions: nothing can be compared against it."
        )
    if data.experiment.retired:
        caveats.append("This experiment is retired: its manifest was removed; history remains.")
    return caveats


def verdicts(summary: Sequence[MetricSummary], base: str) -> list[tuple[str, str]]:
    """Each metric's title and its verdict against the baseline, in words."""
    found = []
    for s in summary:
        if s.outcome == "winner" and s.comparison and s.comparison.estimate is not None:
            delta = (
                units.points(s.comparison.estimate)
                if s.metric == "success_rate"
                else units.relative(s.comparison.estimate)
            )
            found.append((s.title, f"{s.winner} ({delta} vs {base})"))
        elif s.outcome == "baseline":
            found.append((s.title, f"{base} (baseline)"))
        else:
            text = {
                "no_difference": "no clear difference",
                "not_enough_data": "not enough data",
                "no_baseline": "no baseline data",
            }
            found.append((s.title, text.get(s.outcome, s.outcome)))
    return found


def scope(experiment: str, totals: Figures | None) -> str:
    sessions = totals.sessions if totals else 0
    requests = totals.requests if totals else 0
    return f"{experiment}: {sessions:,} sessions, {requests:,} requests"


def _headline(
    experiment: str, totals: Figures | None, summary: Sequence[MetricSummary], base: str
) -> str:
    parts = [f"{title}: {verdict}" for title, verdict in verdicts(summary, base)]
    return f"{scope(experiment, totals)}. " + "; ".join(parts) + "."


def build(data: ReportData) -> Report:
    """The report, without charts (``charts.render`` adds them)."""
    exp = data.experiment
    by_level: dict[str, list[Row]] = defaultdict(list)
    for row in data.rollups:
        by_level[row["level"]].append(row)
    variant_rows = {(r["variant"], r["variant_version"]): r for r in by_level["variant"]}
    sessions: dict[Unit, list[Row]] = defaultdict(list)
    for row in data.sessions:
        sessions[(row["variant"], row["variant_version"])].append(row)
    quality = {(r["variant"], r["variant_version"]): r for r in data.quality}

    present = set(variant_rows) | set(sessions) | set(quality)
    with_data = {u[0] for u in present}
    # A listed variant without sessions still gets a row (its current version).
    present |= {(n, v) for n, v in data.listed_versions.items() if n not in with_data}
    base_versions = sorted(v for n, v in present if n == exp.baseline)
    baseline: Unit | None = (exp.baseline, base_versions[-1]) if base_versions else None
    order = _order(data, present, baseline)
    labels = _labels(order)
    base_label = labels[baseline] if baseline else exp.baseline

    comparisons: dict[Unit, list[Comparison]] = {}
    for unit in order:
        if unit == baseline or baseline is None:
            comparisons[unit] = []
            continue
        comparisons[unit] = [
            _compare(spec, labels[unit], base_label, sessions[baseline], sessions[unit])
            for spec in METRICS
        ]
    # Holm's correction per metric, across every variant compared with the baseline.
    for index, spec in enumerate(METRICS):
        corrected = _corrected(spec, [comparisons[u][index] for u in order if comparisons[u]])
        for unit, comparison in zip([u for u in order if comparisons[u]], corrected, strict=True):
            comparisons[unit][index] = comparison

    variants = []
    for unit in order:
        q = quality.get(unit, {})
        costs = [r["cost_usd"] for r in sessions[unit]]
        variants.append(
            VariantReport(
                variant=unit[0],
                version=unit[1],
                label=labels[unit],
                baseline=unit == baseline,
                listed=unit[0] in exp.variants,
                figures=figures(variant_rows.get(unit)),
                mean_session_cost_usd=stats.mean(costs) if costs else None,
                ttft_quality=TtftQuality(
                    measured=q.get("ttft_measured", 0),
                    missing=q.get("ttft_missing", 0),
                    equal_to_total=q.get("ttft_equal_to_total", 0),
                ),
                cost_missing=q.get("cost_missing", 0),
                tag_mismatches=q.get("tag_mismatches", 0),
                task_level=_task_level(sessions[unit], labels[unit]),
                comparisons=comparisons[unit],
            )
        )

    design = _design(exp.task_cards, exp.replicates, sessions[baseline] if baseline else [])
    summary = []
    for spec in METRICS:
        of_metric = [c for unit in order for c in comparisons[unit] if c.metric == spec.metric]
        base_attempts = _attempts(spec, sessions[baseline] if baseline else [])
        base_has = _statistic(spec)(list(base_attempts.values())) is not None
        summary.append(_summary(spec, base_label, base_has, of_metric, design))

    cards = {name: i for i, name in enumerate(exp.task_cards)}
    rank = {unit: i for i, unit in enumerate(order)}
    tasks = [
        TaskReport(
            variant=r["variant"],
            version=r["variant_version"],
            label=labels[(r["variant"], r["variant_version"])],
            task_card=r["task_card"],
            figures=figures(r),
        )
        for r in sorted(
            by_level["variant_task"],
            key=lambda r: (
                rank[(r["variant"], r["variant_version"])],
                cards.get(r["task_card"], len(cards)),
                r["task_card"],
            ),
        )
    ]
    totals_rows = by_level["experiment"]
    totals = figures(totals_rows[0]) if totals_rows else None
    window = data.window
    return Report(
        experiment=exp.name,
        experiment_version=exp.version,
        retired=exp.retired,
        description=exp.description,
        hypothesis=exp.hypothesis,
        baseline=base_label,
        self_reported_outcomes=exp.self_reported_outcomes,
        window=Window(
            first_request_at=window[0].astimezone(UTC), last_request_at=window[1].astimezone(UTC)
        )
        if window
        else None,
        headline=_headline(exp.name, totals, summary, base_label),
        totals=totals,
        summary=summary,
        variants=variants,
        tasks=tasks,
        charts=[],
        design=design,
        cost_accuracy=_cost_accuracy(data, {u: labels[u] for u in order}),
        attrition=_attrition(data, {u: labels[u] for u in order}),
        methods=Methods(
            confidence=stats.CONFIDENCE,
            bootstrap_resamples=stats.RESAMPLES,
            bootstrap_seed=stats.SEED,
            min_tasks=taskstats.MIN_TASKS,
            power=taskstats.POWER,
            cost_tolerance=COST_TOLERANCE,
            histogram_bins_per_decade=BINS_PER_DECADE,
        ),
        caveats=_caveats(data, variants, base_label),
    )
