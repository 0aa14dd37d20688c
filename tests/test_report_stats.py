"""The report's statistics and number formatting: pure functions, checked against published
values."""

from __future__ import annotations

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


def test_cost_per_success_counts_failed_attempts():
    assert stats.cost_per_success([(1.0, True), (3.0, False)]) == 4.0
    assert stats.cost_per_success([(1.0, False)]) is None


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
