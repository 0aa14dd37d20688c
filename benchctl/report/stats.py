"""Statistics of a report: pure functions, no database, deterministic.

The independent unit of an experiment is the session (a requests' latency depends on the
session's task, cache and conversation), so intervals resample sessions, never requests:

- success rate: Wilson score interval per variant; the difference to the baseline with
  Newcombe's hybrid score interval (method 10), which stays inside [-1, 1] and behaves at 0% and
  100% where the normal approximation does not;
- latency, TTFT, output tokens/s: the median over sessions of each session's median, and its
  relative difference to the baseline (``median(variant) / median(baseline) - 1``) with a
  percentile bootstrap that resamples each variant's sessions independently;
- cost per successful task: the sessions' total cost over their successes (what a solved task
  costs, failed attempts included), same bootstrap over (cost, succeeded) pairs.

A verdict needs ``MIN_SESSIONS`` sessions with a figure on both sides; fewer, and the answer is
"not enough data" instead of an interval. A variant is better or worse than the baseline only
when the interval excludes zero.
"""

from __future__ import annotations

import hashlib
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

Z95 = 1.959963984540054
CONFIDENCE = 0.95
# Below this many sessions per side a bootstrap interval is mostly the luck of which sessions
# happened; 5 is where the percentile bootstrap of a median starts to have distinct quantiles.
MIN_SESSIONS = 5
RESAMPLES = 2000
SEED = "benchctl-report-v1"

T = TypeVar("T")
Verdict = Literal["better", "worse", "no_difference", "not_enough_data"]
Direction = Literal["lower", "higher"]


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class Delta:
    """A variant against the baseline on one metric."""

    verdict: Verdict
    # Relative for latency/TTFT/tokens/cost (0.3 = 30% more), percentage points / 100 for the
    # success rate; None when there is not enough data.
    estimate: float | None
    interval: Interval | None
    baseline_value: float | None
    variant_value: float | None
    n_baseline: int
    n_variant: int


def wilson(successes: int, n: int, z: float = Z95) -> Interval | None:
    """Wilson score interval of a proportion; None without trials."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Rounding can push the bounds a hair past [0, 1] or p (e.g. at p = 0).
    return Interval(max(0.0, min(centre - half, p)), min(1.0, max(centre + half, p)))


def _verdict(interval: Interval, direction: Direction) -> Verdict:
    if not interval.excludes_zero():
        return "no_difference"
    higher = interval.low > 0
    return "better" if higher == (direction == "higher") else "worse"


def success_delta(
    baseline: tuple[int, int], variant: tuple[int, int], min_sessions: int = MIN_SESSIONS
) -> Delta:
    """Difference of success rates (variant - baseline), each given as (successes, sessions)."""
    (s0, n0), (s1, n1) = baseline, variant
    p0 = s0 / n0 if n0 else None
    p1 = s1 / n1 if n1 else None
    w0, w1 = wilson(s0, n0), wilson(s1, n1)
    if n0 < min_sessions or n1 < min_sessions or w0 is None or w1 is None:
        return Delta("not_enough_data", None, None, p0, p1, n0, n1)
    assert p0 is not None and p1 is not None
    d = p1 - p0
    low = d - math.sqrt((p1 - w1.low) ** 2 + (w0.high - p0) ** 2)
    high = d + math.sqrt((w1.high - p1) ** 2 + (p0 - w0.low) ** 2)
    interval = Interval(max(-1.0, low), min(1.0, high))
    return Delta(_verdict(interval, "higher"), d, interval, p0, p1, n0, n1)


def _seed(*parts: str) -> int:
    # One stream per (metric, variant, baseline): adding a variant leaves the others' intervals
    # unchanged, and Python's hash randomisation never enters.
    digest = hashlib.sha256("\0".join((SEED, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks, as numpy's default and percentile_cont."""
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def bootstrap_delta(
    baseline: Sequence[T],
    variant: Sequence[T],
    *,
    statistic: Callable[[Sequence[T]], float | None],
    direction: Direction,
    key: tuple[str, ...],
    resamples: int = RESAMPLES,
    min_sessions: int = MIN_SESSIONS,
) -> Delta:
    """Relative difference ``statistic(variant) / statistic(baseline) - 1`` with a percentile
    bootstrap interval; ``key`` names the comparison and seeds its random stream.

    ``statistic`` returns None where it is undefined (cost per success without a success);
    such resamples are dropped, and when more than the interval's tails would be, there is not
    enough data for a verdict.
    """
    n0, n1 = len(baseline), len(variant)
    b0 = statistic(baseline) if n0 else None
    b1 = statistic(variant) if n1 else None
    if n0 < min_sessions or n1 < min_sessions or not b0 or b1 is None:
        return Delta("not_enough_data", None, None, b0, b1, n0, n1)
    rng = random.Random(_seed(*key))  # noqa: S311 - statistics, not secrets
    ratios = []
    for _ in range(resamples):
        s0 = statistic(rng.choices(baseline, k=n0))
        s1 = statistic(rng.choices(variant, k=n1))
        if s0 and s1 is not None:
            ratios.append(s1 / s0 - 1)
    if len(ratios) < resamples * CONFIDENCE:
        return Delta("not_enough_data", None, None, b0, b1, n0, n1)
    ratios.sort()
    tail = (1 - CONFIDENCE) / 2
    interval = Interval(_percentile(ratios, tail), _percentile(ratios, 1 - tail))
    return Delta(_verdict(interval, direction), b1 / b0 - 1, interval, b0, b1, n0, n1)


def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def cost_per_success(sessions: Sequence[tuple[float, bool]]) -> float | None:
    """Total cost over successful sessions, as (cost, succeeded) pairs; None without one."""
    successes = sum(1 for _, ok in sessions if ok)
    return math.fsum(cost for cost, _ in sessions) / successes if successes else None
