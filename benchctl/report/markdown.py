"""The report's README.md: GitHub-flavoured Markdown, summary first.

Readers come for the verdict, so it leads: one line per metric naming the winner against the
baseline, with the difference and its interval. Tables per variant and per variant x task card
follow, then the charts (relative links to charts/*.svg), then how the figures were made and
what they cannot say.
"""

from __future__ import annotations

import re

import jinja2

from benchctl.report import units
from benchctl.report.model import Comparison, Figures, MetricSummary, Report, VariantReport

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
| {{ s.title }} | {{ s.better }} | {{ verdict(s) }} | {{ difference(s.comparison) }} \
| {{ interval(s.comparison) }} |
{% endfor %}
{% if others %}

Every variant against the baseline **{{ r.baseline }}** (difference, 95% interval; \
✓ better, ✗ worse, ≈ no clear difference):

| variant |{% for s in r.summary %} {{ s.title }} |{% endfor %}

|---|{% for s in r.summary %}---|{% endfor %}

{% for v in others %}
| {{ v.label }} |{% for c in v.comparisons %} {{ cell(c) }} |{% endfor %}

{% endfor %}
{% endif %}

## Variants

| variant | sessions | success rate (95% CI) | cost per success | cost per session \
| latency p50 · p95 (ms) | TTFT p50 · p95 (ms) | output tokens/s p50 | calls | errors \
| proxy overhead p50 (ms) |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
{% for v in r.variants %}
{% set f = v.figures %}
| {{ name(v) }} | {{ count(f.sessions) }} | {{ success(f) }} | {{ usd(f.cost_per_success_usd) }} \
| {{ usd(v.mean_session_cost_usd) }} | {{ pair(f.latency_p50_ms, f.latency_p95_ms) }} \
| {{ ttft(v) }} | {{ number(f.tokens_per_s_p50) }} | {{ count(f.requests) }} \
| {{ errors(f) }} | {{ number(f.overhead_p50_ms) }} |
{% endfor %}
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

- **Unit of analysis: the session.** Calls within a session share a task, a conversation and \
a cache, so they are not independent; every interval resamples sessions.
- **Success rate**: successful sessions over sessions with an outcome that counts: one the \
task card's verifier measured, or, where the experiment includes them, one the operator \
typed (self-reported); 95% Wilson score interval; the difference to the baseline with \
Newcombe's hybrid score interval.
- **Latency, TTFT, output tokens/s**: per session, the median over its successful calls \
(TTFT only over calls whose TTFT was measured); per variant, the median of those session \
medians. The difference to the baseline is relative \
(`median(variant) / median(baseline) - 1`) with a {{ m.bootstrap_resamples }}-resample \
percentile bootstrap of sessions (fixed seed `{{ m.bootstrap_seed }}`: the same data gives the \
same intervals).
- **Cost per successful task**: the sessions' total cost (recomputed from each call's usage \
and the provider manifest's prices) over their successes, so failed attempts are paid for; \
same bootstrap.
- **Verdicts** need {{ m.min_sessions }} or more sessions with a figure on both sides; below \
that the report says *not enough data*. A variant is better or worse than the baseline only \
when the {{ percent(m.confidence) }} interval excludes zero; with several variants, each is \
compared with the baseline, not with each other.
- **Tables** show call-level percentiles across all of a variant's successful calls; charts \
bin calls on a log scale, {{ m.histogram_bins_per_decade }} bins to a factor of ten.
- Aborted sessions are left out. Figures have three significant digits.
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
    # Optional sections leave runs of blank lines behind; Markdown wants one.
    return re.sub(r"\n{3,}", "\n\n", _TEMPLATE.render(r=report, m=report.methods, others=others))
