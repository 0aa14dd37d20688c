"""The report's statistics and number formatting: pure functions, checked against published
values."""

from __future__ import annotations

import random

import pytest

from benchctl.report import stats, units
from benchctl.report.charts import log_ticks, nice_ticks, tick_label


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857, table I (Wilson score, method 3).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (20, 20, 0.8389, 1.0),
    ],
)
def test_wilson_matches_published_intervals(successes, n, low, high):
    interval = stats.wilson(successes, n)
    assert interval is not None
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-4)


def test_wilson_without_trials():
    assert stats.wilson(0, 0) is None


def test_newcombe_difference_matches_published_interval():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80, method 10.
    delta = stats.success_delta((48, 80), (56, 70))
    assert delta.estimate == pytest.approx(0.2)
    assert (delta.interval.low, delta.interval.high) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    assert delta.verdict == "better"
    assert stats.success_delta((56, 70), (48, 80)).verdict == "worse"


def test_success_delta_needs_enough_sessions():
    delta = stats.success_delta((4, 4), (0, 4))
    assert (delta.verdict, delta.estimate, delta.interval) == ("not_enough_data", None, None)
    assert (delta.baseline_value, delta.variant_value) == (1.0, 0.0)
    assert stats.success_delta((5, 5), (0, 5)).verdict == "worse"


def _sample(seed: int, n: int, scale: float) -> list[float]:
    rng = random.Random(seed)
    return [scale * rng.lognormvariate(0, 0.3) for _ in range(n)]


def test_bootstrap_is_deterministic_and_finds_a_true_difference():
    base, slow = _sample(1, 60, 1000.0), _sample(2, 60, 1300.0)
    args = {"statistic": stats.median, "direction": "lower", "key": ("latency", "a", "b")}
    first = stats.bootstrap_delta(base, slow, **args)
    assert first == stats.bootstrap_delta(base, slow, **args)
    assert first.verdict == "worse"
    assert first.interval.low < 0.3 < first.interval.high
    # Another key is another random stream: other resamples, not the same interval.
    other = stats.bootstrap_delta(base, slow, **{**args, "key": ("latency", "a", "c")})
    assert other.interval != first.interval
    assert other.estimate == first.estimate


def test_bootstrap_sees_no_difference_between_equal_variants():
    a, b = _sample(3, 40, 1000.0), _sample(4, 40, 1000.0)
    delta = stats.bootstrap_delta(a, b, statistic=stats.median, direction="lower", key=("x",))
    assert delta.verdict == "no_difference"
    assert delta.interval.low < 0 < delta.interval.high


def test_bootstrap_thresholds():
    few, many = [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0, 5.0]
    args = {"statistic": stats.median, "direction": "higher", "key": ("x",)}
    assert stats.bootstrap_delta(few, many, **args).verdict == "not_enough_data"
    assert stats.bootstrap_delta(many, few, **args).verdict == "not_enough_data"
    assert stats.bootstrap_delta(many, many, **args).verdict == "no_difference"
    # A baseline of zeros has no relative difference to speak of.
    zeros = [0.0] * 5
    assert stats.bootstrap_delta(zeros, many, **args).verdict == "not_enough_data"


def test_cost_per_success_counts_failed_attempts_and_skips_resamples_without_success():
    assert stats.cost_per_success([(1.0, True), (3.0, False)]) == 4.0
    assert stats.cost_per_success([(1.0, False)]) is None
    mostly_failing = [(1.0, False)] * 9 + [(1.0, True)]
    delta = stats.bootstrap_delta(
        mostly_failing,
        mostly_failing,
        statistic=stats.cost_per_success,
        direction="lower",
        key=("cost",),
    )
    # A third of resamples have no success: too many undefined ratios for a verdict.
    assert delta.verdict == "not_enough_data"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (1234.5, "1,230"),
        (999.7, "1,000"),
        (12.345, "12.3"),
        (0.012345, "0.0123"),
        (123456, "123,000"),
        (-0.5, "-0.500"),
    ],
)
def test_three_significant_figures(value, text):
    assert units.sig(value) == text


def test_display_formats():
    assert [units.usd(v) for v in (None, 0, 0.0123456, 1.5, 1234.5)] == [
        units.DASH,
        "$0",
        "$0.0123",
        "$1.50",
        "$1,234",
    ]
    assert units.percent(0.855) == "86%"
    assert [units.relative(v) for v in (0.3, -0.042, 0.0996, 1.5)] == [
        "+30%",
        "-4.2%",
        "+10%",
        "+150%",
    ]
    assert units.points(-0.1) == "-10.0 pts"


def test_axis_ticks():
    assert nice_ticks(9.3) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(0.0113) == [0, 0.0025, 0.005, 0.0075, 0.01, 0.0125]
    assert [tick_label(t, nice_ticks(0.0113)) for t in nice_ticks(0.0113)][1] == "0.0025"
    assert log_ticks(2.0, 3.7) == [100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0]
