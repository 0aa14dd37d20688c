"""The report's README.md: GitHub-flavoured Markdown, summary first.

Readers come for the verdict, so it leads: one line per metric naming the winner against the
baseline, with the difference and its interval. Tables per variant and per variant x task card
follow, then the charts (relative links to charts/*.svg), then how the figures were made and
what they cannot say.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import jinja2

from benchctl.report import units
from benchctl.report.model import (
    Comparison,
    CostAccuracy,
    Figures,
    MetricSummary,
    Report,
    VariantReport,
)

# Backslash-newlines (Python's line continuation inside this literal) join long table rows.
TEMPLATE = """\
# {{ r.experiment }}: comparison report

{% if r.description %}
{{ r.description }}

{% endif %}
{% if r.hypothesis %}
> **Hypothesis.** {{ r.hypothesis }}

{% endif %}
{{ data_line(r) }}

## Summary

| metric | better | verdict | difference vs {{ r.baseline }} | 95% interval |
|---|---|---|---|---|
{% for s in r.summary %}
| {{ s.title }} | {{ s.better }} | {{ verdict(s) }} | {{ linked(s.comparison, difference) }} \
| {{ linked(s.comparison, interval) }} |
{% endfor %}
{% if others %}

Every variant against the baseline **{{ r.baseline }}**, paired on the task cards both ran \
(difference, 95% interval; ✓ better, ✗ worse after [Holm's correction](#holms-correction), \
≈ no clear difference):

| variant |{% for s in r.summary %} {{ s.title }} |{% endfor %}

|---|{% for s in r.summary %}---|{% endfor %}

{% for v in others %}
| {{ v.label }} |{% for c in v.comparisons %} {{ cell(c) }} |{% endfor %}

{% endfor %}
{% endif %}

## Variants

| variant | task cards · sessions | success rate (95% CI) | cost per success (95% CI) \
| cost per session \
| latency p50 · p95 (ms) | TTFT p50 · p95 (ms) | output tokens/s p50 | calls | errors \
| proxy overhead p50 (ms) |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
{% for v in r.variants %}
{% set f = v.figures %}
| {{ name(v) }} | {{ count(v.task_level.tasks) }} · {{ count(f.sessions) }} \
| {{ task_success(v) }} | {{ task_cost(v) }} \
| {{ usd(v.mean_session_cost_usd) }} | {{ pair(f.latency_p50_ms, f.latency_p95_ms) }} \
| {{ ttft(v) }} | {{ number(f.tokens_per_s_p50) }} | {{ count(f.requests) }} \
| {{ errors(f) }} | {{ number(f.overhead_p50_ms) }} |
{% endfor %}

{{ design_line(r) }}
{% if flips %}

## Paired by task card

Task cards on which a variant and the baseline **{{ r.baseline }}** differ in how often they \
succeed (the pairs that move the success-rate comparison):

| variant | tasks in common | solves more often than the baseline | the baseline solves more often \
| test | smallest detectable difference |
|---|---:|---|---|---|---:|
{% for v, c in flips %}
| {{ v.label }} | {{ c.tasks }} | {{ tasks(c.variant_only) }} | {{ tasks(c.baseline_only) }} \
| {{ test(c) }} | {{ mde(c.mde) }} |
{% endfor %}
{% endif %}
{% if passk %}

## pass@k and pass^k

Over task cards, the chance that at least one of *k* attempts succeeds (pass@k) and that all \
*k* do (pass^k), from the unbiased per-task estimators ([method](#passk-and-passk-1)):

| variant |{% for k in passk %} pass@{{ k }} |{% endfor %}\
{% for k in passk %} pass^{{ k }} |{% endfor %}

|---|{% for k in passk %}---:|{% endfor %}{% for k in passk %}---:|{% endfor %}

{% for v in r.variants if v.task_level.pass_k %}
| {{ v.label }} |{% for p in v.task_level.pass_k %} {{ percent(p.pass_at_k) }} |{% endfor %}\
{% for p in v.task_level.pass_k %} {{ percent(p.pass_hat_k) }} |{% endfor %}

{% endfor %}
{% endif %}
{% if r.cost_accuracy %}

## Cost accuracy

Costs in this report are recomputed from each call's usage and the provider manifest's prices \
([method](#outcomes-and-costs)). The same calls, as LiteLLM charged them and as the harness \
reported them (where its output was recorded), with the sessions further apart than \
{{ percent(m.cost_tolerance) }}:

| variant | sessions | recomputed | LiteLLM | sessions apart | harness | sessions apart |
|---|---:|---:|---:|---:|---:|---:|
{% for c in r.cost_accuracy %}
| {{ c.variant }} | {{ count(c.sessions) }} | {{ usd(c.recomputed_usd) }} \
| {{ usd(c.litellm_usd) }}{{ rel(c.litellm_relative) }} | {{ count(c.litellm_disagree) }} \
| {{ harness(c) }} | {{ count(c.harness_disagree) if c.harness_sessions else dash }} |
{% endfor %}
{% endif %}
{% if r.attrition %}

## Attrition

Sessions run headless (`benchctl run`). An attempt lost to infrastructure is retried and never \
scored as the agent's failure; a session out of attempts is aborted, unscored. A harness that \
ran out its timebox is verified and scored all the same.

| variant | sessions | attempts | lost to infrastructure | aborted | timed out (scored) \
| unscored | not yet run |
|---|---:|---:|---:|---:|---:|---:|---:|
{% for a in r.attrition %}
| {{ a.variant }} | {{ count(a.sessions) }} | {{ count(a.attempts) }} \
| {{ count(a.infrastructure_failures) }} | {{ count(a.aborted) }} | {{ count(a.timed_out) }} \
| {{ count(a.unscored) }} | {{ count(a.pending) }} |
{% endfor %}
{% endif %}
{% if r.charts %}

## Charts

{% for c in r.charts %}
![{{ c.title }}]({{ c.path }})

{% endfor %}
{% endif %}
{% if r.tasks %}

## Variant \u00d7 task card

| variant | task card | sessions | success rate (95% CI) | cost per success \
| latency p50 (ms) | TTFT p50 (ms) | output tokens/s p50 | calls | errors |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|
{% for t in r.tasks %}
{% set f = t.figures %}
| {{ t.label }} | {{ t.task_card }} | {{ count(f.sessions) }} | {{ success(f) }} \
| {{ usd(f.cost_per_success_usd) }} | {{ number(f.latency_p50_ms) }} \
| {{ number(f.ttft_p50_ms) }} | {{ number(f.tokens_per_s_p50) }} | {{ count(f.requests) }} \
| {{ errors(f) }} |
{% endfor %}
{% endif %}

## Methods

### The task card as the unit

Attempts of one task card are not independent (a hard task is hard for every variant), and \
every variant runs the same task cards. So a variant's figure is the mean over task cards of \
each task's figure over its attempts, and intervals come from a cluster bootstrap that \
resamples task cards ({{ m.bootstrap_resamples }} resamples, fixed seed \
`{{ m.bootstrap_seed }}`: the same data gives the same intervals) and keeps each one's \
attempts together; the success rate's CLT standard error over task cards is in `report.json`. \
Calls within a session are not independent either: per session, latency, TTFT and output \
tokens/s are the median over its successful calls (TTFT only over calls whose TTFT was \
measured), per task card the median of its sessions.

### Paired cluster bootstrap

Each variant is compared with the baseline on the task cards both ran, resampling the same \
task cards on both sides. Success rate: the difference in points; latency, TTFT, output \
tokens/s and cost per successful task: the relative difference \
(`figure(variant) / figure(baseline) - 1`). The interval is the percentile interval \
({{ percent(m.confidence) }}), the p-value twice the share of resamples on the far side of \
zero. A comparison needs {{ m.min_tasks }} or more task cards in common; below that the report \
says *not enough data*.

### McNemar's exact test

When each task card has exactly one attempt a side, the success-rate p-value is McNemar's \
exact test on the task cards that flip (solved by one side only).

### Holm's correction

With several variants compared with the baseline, Holm's step-down procedure keeps the chance \
of any false "better" or "worse" at {{ percent(1 - m.confidence) }} per metric. A variant is \
better or worse only when the corrected test rejects "no difference" and the interval excludes \
zero; each variant is compared with the baseline, not with each other.

### pass@k and pass^k

Per task card with *n* attempts of which *c* succeeded: pass@k = 1 - C(n-c, k) / C(n, k) and \
pass^k = C(c, k) / C(n, k), averaged over task cards, for *k* up to the fewest attempts a task \
card has.

### Minimum detectable effect

The smallest success-rate difference a paired comparison detects with \
{{ percent(m.power) }} power at alpha = {{ percent(1 - m.confidence) }}: \
(z(0.975) + z(0.8)) * SE, with SE the standard error of the per-task differences (for a \
comparison), or for the design the square root of (the mean over task cards of \
2 p (1 - p) / attempts) / task cards, \
p each baseline task's success rate smoothed as (c + 1) / (n + 2).

### Outcomes and costs

An outcome counts when the task card's verifier measured it, or, where the experiment includes \
them, when the operator typed it (self-reported). Cost per successful task is what the counted \
sessions cost (recomputed from each call's usage and the provider manifest's prices) over \
their successes, so failed attempts are paid for. Errors are the provider's (upstream) \
errors, over the calls that reached it; calls the proxy refused (a revoked key, an exhausted \
budget, a model the key may not use) and calls the client cancelled are counted apart. Tables \
show call-level percentiles across \
all of a variant's successful calls; charts bin calls on a log scale, \
{{ m.histogram_bins_per_decade }} bins to a factor of ten. Aborted sessions are left out. \
Figures have three significant digits.

{% if r.caveats %}

## Caveats

{% for c in r.caveats %}
- {{ c }}
{% endfor %}
{% endif %}

<sub>report format {{ r.format_version }} · written by `benchctl report {{ r.experiment }}` \
from the benchmark database; the same data gives the same bytes.</sub>
"""

_VERDICT_MARK = {"better": "✓", "worse": "✗", "no_difference": "≈", "not_enough_data": ""}


def _difference(c: Comparison | None) -> str:
    if c is None or c.estimate is None:
        return units.DASH
    return units.points(c.estimate) if c.metric == "success_rate" else units.relative(c.estimate)


def _interval(c: Comparison | None) -> str:
    if c is None or c.interval is None:
        return units.DASH
    if c.metric == "success_rate":
        low, high = units.points(c.interval.low), units.points(c.interval.high)
        return f"{low.removesuffix(' pts')} to {high}"
    return f"{units.relative(c.interval.low)} to {units.relative(c.interval.high)}"


_METHOD_ANCHOR = {
    "paired cluster bootstrap": "#paired-cluster-bootstrap",
    "McNemar exact": "#mcnemars-exact-test",
}


def _linked(c: Comparison | None, shown: Callable[[Comparison | None], str]) -> str:
    """A summary figure, linked to the method it comes from."""
    text = shown(c)
    if c is None or c.method is None or text == units.DASH:
        return text
    return f"[{text}]({_METHOD_ANCHOR[c.method]})"


def _task_success(v: VariantReport) -> str:
    t = v.task_level
    if t.success_rate is None:
        return units.DASH
    text = units.percent(t.success_rate)
    if t.success_interval:
        text += f" ({units.percent_range(t.success_interval.low, t.success_interval.high)})"
    return text


def _task_cost(v: VariantReport) -> str:
    t = v.task_level
    if t.cost_per_success_usd is None:
        return units.DASH
    text = units.usd(t.cost_per_success_usd)
    if t.cost_per_success_interval:
        low, high = t.cost_per_success_interval.low, t.cost_per_success_interval.high
        text += f" ({units.usd(low)} to {units.usd(high)})"
    return text


def _tasks(names: Sequence[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:6])
    return shown + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def _test(c: Comparison) -> str:
    if c.p_value is None or c.method is None:
        return "not enough data"
    verdict = "significant after Holm" if c.significant else "not significant after Holm"
    # The bootstrap's p-value is never below one in its resamples: at that floor, a bound.
    p = "p ≤ 0.001" if c.p_value <= 0.001 else f"p = {units.number(c.p_value)}"
    return f"[{c.method}]({_METHOD_ANCHOR[c.method]}) {p}, {verdict}"


def _mde(value: float | None) -> str:
    return units.points(value).removeprefix("+") if value is not None else units.DASH


def _rel(value: float | None) -> str:
    if value is None:
        return ""
    # Sums that differ in the last digits of a float are the same cost.
    return " (same)" if abs(value) < 0.0005 else f" ({units.relative(value)})"


def _harness(c: CostAccuracy) -> str:
    if not c.harness_sessions or c.harness_usd is None:
        return "not recorded"
    return f"{units.usd(c.harness_usd)}{_rel(c.harness_relative)} of {c.harness_sessions}"


def _design_line(r: Report) -> str:
    d = r.design
    if d.mde_success_rate is None:
        return ""
    return (
        f"With {d.tasks} task card(s) and {d.attempts} attempt(s) each, this design can tell"
        f" apart success-rate differences of about {_mde(d.mde_success_rate)} or more"
        f" ([80% power, alpha 5%](#minimum-detectable-effect)); smaller ones read as no clear"
        " difference."
    )


def _verdict(s: MetricSummary) -> str:
    if s.outcome == "winner":
        return f"**{s.winner}** is better" + (f" ({s.note})" if s.note else "")
    if s.outcome == "baseline":
        return f"none beats the baseline **{s.winner}** ({s.note})"
    return {
        "no_difference": "no clear difference",
        "not_enough_data": "not enough data",
        "no_baseline": "no baseline data",
    }[s.outcome] + (f" ({s.note})" if s.note else "")


def _cell(c: Comparison) -> str:
    if c.n_variant == 0:
        return "no data"
    if c.verdict == "not_enough_data":
        return "not enough data"
    return f"{_VERDICT_MARK[c.verdict]} {_difference(c)} ({_interval(c)})"


def _success(f: Figures) -> str:
    if f.success_rate is None:
        return units.DASH
    text = f"{units.percent(f.success_rate)} of {f.sessions_with_outcome:,}"
    if f.success_interval:
        text += f" ({units.percent_range(f.success_interval.low, f.success_interval.high)})"
    return text


def _ttft(v: VariantReport) -> str:
    f, q = v.figures, v.ttft_quality
    if not q.measured:
        return "not measured" if q.missing + q.equal_to_total else units.DASH
    mark = "†" if q.missing + q.equal_to_total else ""
    return _pair(f.ttft_p50_ms, f.ttft_p95_ms) + mark


def _pair(a: float | None, b: float | None) -> str:
    if a is None:
        return units.DASH
    return f"{units.number(a)} · {units.number(b)}"


def _errors(f: Figures) -> str:
    if not f.requests:
        return units.DASH
    return f"{f.errors:,} ({units.percent(f.error_rate)})"


def _name(v: VariantReport) -> str:
    return f"**{v.label}** (baseline)" if v.baseline else v.label


def _data_line(r: Report) -> str:
    totals = r.totals
    variants = len(r.variants)
    if totals is None or (totals.sessions == 0 and totals.requests == 0):
        return (
            f"No sessions yet: {variants} variant(s) are listed, with no data to compare."
            f" The baseline is **{r.baseline}**."
        )
    window = ""
    if r.window:
        first = r.window.first_request_at.strftime("%Y-%m-%d %H:%M")
        last = r.window.last_request_at.strftime("%Y-%m-%d %H:%M")
        window = f" from {first} to {last} UTC"
    counted = "verified or self-reported" if r.self_reported_outcomes == "include" else "verified"
    return (
        f"Data: **{totals.sessions:,} sessions** ({totals.sessions_verified:,} with a verified"
        f" outcome, {totals.sessions_self_reported:,} self-reported; success rates count"
        f" {counted} outcomes) and **{totals.requests:,} calls**{window}, over {variants}"
        f" variant(s). The baseline is **{r.baseline}**."
    )


_ENV = jinja2.Environment(
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
    # Markdown, not HTML: GitHub sanitises it; values are names, numbers and reviewed manifests.
    autoescape=False,  # noqa: S701
)
_ENV.globals.update(
    data_line=_data_line,
    rel=_rel,
    harness=_harness,
    dash=units.DASH,
    design_line=_design_line,
    linked=_linked,
    task_success=_task_success,
    task_cost=_task_cost,
    tasks=_tasks,
    test=_test,
    mde=_mde,
    verdict=_verdict,
    difference=_difference,
    interval=_interval,
    cell=_cell,
    success=_success,
    ttft=_ttft,
    pair=_pair,
    errors=_errors,
    name=_name,
    count=units.count,
    number=units.number,
    usd=units.usd,
    percent=units.percent,
)
_TEMPLATE = _ENV.from_string(TEMPLATE)


def render(report: Report) -> str:
    others = [v for v in report.variants if v.comparisons]
    flips = [
        (v, c)
        for v in others
        for c in v.comparisons
        if c.metric == "success_rate" and c.tasks and (c.variant_only or c.baseline_only)
    ]
    curves = [v.task_level.pass_k for v in report.variants if v.task_level.pass_k]
    passk = [p.k for p in curves[0]] if curves and len(curves[0]) >= 2 else []
    passk = [k for k in passk if all(len(c) >= k for c in curves)]
    page = _TEMPLATE.render(r=report, m=report.methods, others=others, flips=flips, passk=passk)
    # Optional sections leave runs of blank lines behind; Markdown wants one.
    return re.sub(r"\n{3,}", "\n\n", page)
