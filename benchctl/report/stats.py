"""Building blocks of a report's statistics: pure functions, no database, deterministic.

The Wilson score interval of a proportion (the pooled, session-level success rate the rollups
give), percentiles as PostgreSQL's ``percentile_cont`` computes them, seeded random streams for
the bootstraps, and cost per success. The comparisons themselves take the task card as the unit:
``taskstats``.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Z95 = 1.959963984540054
CONFIDENCE = 0.95
RESAMPLES = 2000
SEED = "benchctl-report-v1"

Direction = Literal["lower", "higher"]


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


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


def seed(*parts: str) -> int:
    # One stream per (metric, variant, baseline): adding a variant leaves the others' intervals
    # unchanged, and Python's hash randomisation never enters.
    digest = hashlib.sha256("\0".join((SEED, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks, as numpy's default and percentile_cont."""
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def cost_per_success(sessions: Sequence[tuple[float, bool]]) -> float | None:
    """Total cost over successful sessions, as (cost, succeeded) pairs; None without one."""
    successes = sum(1 for _, ok in sessions if ok)
    return math.fsum(cost for cost, _ in sessions) / successes if successes else None
