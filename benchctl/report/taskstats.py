"""Statistics with the task card as the unit: pure functions, no database, deterministic.

Attempts of one task card are not independent (a hard task is hard for every variant), and every
variant runs the same task cards, so (Miller, "Adding Error Bars to Evals", arXiv 2411.00640):

- a variant's figure is the mean over task cards of each task's figure over its attempts, with a
  cluster bootstrap that resamples task cards and keeps each one's attempts together, and the
  CLT standard error over tasks beside it;
- a comparison with the baseline is paired: on the task cards both ran, the same resampled task
  cards on both sides (a paired cluster bootstrap); with one binary attempt per task a side,
  McNemar's exact test on the tasks that flip;
- several variants against one baseline are corrected with Holm's step-down procedure;
- pass@k and pass^k use the unbiased per-task estimators, averaged over task cards;
- the minimum detectable effect is what a paired comparison of this design detects at 80% power
  and alpha 0.05.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist
from typing import Literal, TypeVar

from benchctl.report.stats import CONFIDENCE, RESAMPLES, Interval, mean, percentile, seed

A = TypeVar("A")
T = TypeVar("T")
# Per task card, its attempts (each attempt whatever a metric needs of a session).
Tasks = Mapping[str, Sequence[A]]
ALPHA = 1 - CONFIDENCE
POWER = 0.8
# Below this many task cards in common, an interval over tasks is the luck of which tasks.
MIN_TASKS = 3


def z(q: float) -> float:
    return NormalDist().inv_cdf(q)


def clt_se(per_task: Sequence[float]) -> float | None:
    """Standard error of the mean over tasks: sample standard deviation over sqrt(tasks)."""
    n = len(per_task)
    if n < 2:
        return None
    m = mean(per_task)
    return math.sqrt(math.fsum((x - m) ** 2 for x in per_task) / (n - 1) / n)


def mean_of_tasks(tasks: Sequence[Sequence[float]]) -> float | None:
    """Mean over task cards of each task's mean over its attempts (tasks without any left out)."""
    per_task = [mean(a) for a in tasks if a]
    return mean(per_task) if per_task else None


def cluster_interval(
    tasks: Tasks[A],
    statistic: Callable[[Sequence[Sequence[A]]], float | None],
    key: tuple[str, ...],
    resamples: int = RESAMPLES,
) -> Interval | None:
    """Percentile interval of ``statistic`` over task cards resampled with replacement, each
    keeping all its attempts; None with fewer than MIN_TASKS tasks or too many undefined
    resamples."""
    clusters = [list(v) for _, v in sorted(tasks.items()) if v]
    if len(clusters) < MIN_TASKS:
        return None
    values = _resampled(clusters, statistic, ("cluster", *key), resamples)
    if values is None:
        return None
    return Interval(percentile(values, ALPHA / 2), percentile(values, 1 - ALPHA / 2))


def _resampled(
    units: Sequence[T],
    statistic: Callable[[Sequence[T]], float | None],
    key: tuple[str, ...],
    resamples: int,
) -> list[float] | None:
    """``statistic`` of ``resamples`` draws of ``units`` with replacement, sorted; None when
    more resamples than the interval's tails leave it undefined."""
    rng = random.Random(seed(*key))  # noqa: S311 - statistics, not secrets
    values = []
    for _ in range(resamples):
        value = statistic(rng.choices(units, k=len(units)))
        if value is not None:
            values.append(value)
    if len(values) < resamples * CONFIDENCE:
        return None
    return sorted(values)


@dataclass(frozen=True)
class Paired:
    """A variant against the baseline on the task cards both ran."""

    tasks: int
    estimate: float | None
    interval: Interval | None
    p_value: float | None
    method: Literal["paired cluster bootstrap", "McNemar exact"] | None
    # Tasks the variant solves and the baseline does not, and the reverse (success rate only).
    variant_only: list[str]
    baseline_only: list[str]
    mde: float | None


def paired(
    baseline: Tasks[A],
    variant: Tasks[A],
    *,
    statistic: Callable[[Sequence[Sequence[A]]], float | None],
    difference: Literal["absolute", "relative"],
    key: tuple[str, ...],
    resamples: int = RESAMPLES,
) -> Paired:
    """``statistic`` of the variant's tasks against the baseline's, over the same resampled task
    cards: ``s(v) - s(b)`` (absolute) or ``s(v) / s(b) - 1`` (relative), with a percentile
    interval and the two-sided bootstrap p-value (twice the share of resamples on the far side
    of zero)."""
    common = sorted(t for t in baseline if baseline[t] and variant.get(t))
    pairs = [(list(baseline[t]), list(variant[t])) for t in common]

    def delta(chosen: Sequence[tuple[list[A], list[A]]]) -> float | None:
        b = statistic([p[0] for p in chosen])
        v = statistic([p[1] for p in chosen])
        if b is None or v is None:
            return None
        if difference == "absolute":
            return v - b
        return v / b - 1 if b else None

    estimate = delta(pairs) if pairs else None
    if len(pairs) < MIN_TASKS or estimate is None:
        return Paired(len(pairs), estimate, None, None, None, [], [], None)
    values = _resampled(pairs, delta, ("paired", *key), resamples)
    if values is None:
        return Paired(len(pairs), estimate, None, None, None, [], [], None)
    interval = Interval(percentile(values, ALPHA / 2), percentile(values, 1 - ALPHA / 2))
    below = sum(1 for x in values if x <= 0)
    above = sum(1 for x in values if x >= 0)
    # Never 0: with no resample past zero, the p-value is below 1 in the number of resamples.
    p_value = min(1.0, 2 * max(min(below, above), 1) / len(values))
    return Paired(len(pairs), estimate, interval, p_value, "paired cluster bootstrap", [], [], None)


def success_rate(tasks: Sequence[Sequence[bool]]) -> float | None:
    """Mean over tasks of each task's share of successful attempts."""
    per_task = [sum(a) / len(a) for a in tasks if a]
    return mean(per_task) if per_task else None


def paired_success(baseline: Tasks[bool], variant: Tasks[bool], key: tuple[str, ...]) -> Paired:
    """The success-rate difference in points (/100), paired by task card. With one attempt per
    task a side, the p-value is McNemar's exact test on the tasks that flip."""
    found = paired(
        baseline, variant, statistic=success_rate, difference="absolute", key=("success", *key)
    )
    common = sorted(t for t in baseline if baseline[t] and variant.get(t))
    variant_only = [t for t in common if task_rate(variant[t]) > task_rate(baseline[t])]
    baseline_only = [t for t in common if task_rate(baseline[t]) > task_rate(variant[t])]
    p_value, method = found.p_value, found.method
    if common and all(len(baseline[t]) == 1 == len(variant[t]) for t in common):
        p_value, method = mcnemar_exact(len(variant_only), len(baseline_only)), "McNemar exact"
    diffs = [task_rate(variant[t]) - task_rate(baseline[t]) for t in common]
    se = clt_se(diffs)
    return Paired(
        found.tasks,
        found.estimate,
        found.interval,
        p_value if found.interval is not None else None,
        method if found.interval is not None else None,
        variant_only,
        baseline_only,
        mde_from_se(se) if se else None,
    )


def task_rate(attempts: Sequence[bool]) -> float:
    return sum(attempts) / len(attempts)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test of b successes in b + c at 1/2."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    # Exact integers: 2**n overflows a float past about a thousand flipping tasks.
    tail = Fraction(sum(math.comb(n, i) for i in range(k + 1)), 2**n)
    return min(1.0, float(2 * tail))


def holm(p_values: Mapping[str, float], alpha: float = ALPHA) -> dict[str, bool]:
    """Which hypotheses Holm's step-down procedure rejects at family-wise level ``alpha``."""
    ordered = sorted(p_values.items(), key=lambda item: (item[1], item[0]))
    m = len(ordered)
    rejected: dict[str, bool] = {}
    going = True
    for i, (name, p) in enumerate(ordered):
        going = going and p <= alpha / (m - i)
        rejected[name] = going
    return rejected


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate that at least one of k attempts succeeds: 1 - C(n-c, k) / C(n, k)."""
    return 1 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate that all k attempts succeed (pass^k): C(c, k) / C(n, k)."""
    return math.comb(c, k) / math.comb(n, k)


def pass_curves(tasks: Tasks[bool]) -> list[tuple[int, float, float]]:
    """(k, pass@k, pass^k), each averaged over the task cards with at least k attempts, for k
    from 1 to the fewest attempts any task has."""
    counts = [(len(a), sum(a)) for a in tasks.values() if a]
    if not counts:
        return []
    top = min(n for n, _ in counts)
    return [
        (
            k,
            mean([pass_at_k(n, c, k) for n, c in counts]),
            mean([pass_hat_k(n, c, k) for n, c in counts]),
        )
        for k in range(1, top + 1)
    ]


def mde_from_se(se: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest true difference a two-sided test at ``alpha`` detects with ``power``."""
    return (z(1 - alpha / 2) + z(power)) * se


def design_mde(
    observed: Sequence[tuple[int, int]], attempts: int, tasks: int | None = None
) -> float | None:
    """MDE of a paired success-rate comparison of ``tasks`` task cards (default: as many as
    observed) with ``attempts`` attempts a side per task. Pairing removes the between-task
    variance; what is left is each task's binomial noise on both sides,
    var(d_t) = 2 p_t (1 - p_t) / attempts, with p_t the task's observed (successes, attempts)
    smoothed as (c + 1) / (n + 2), so a task seen always solved still counts as uncertain; with
    nothing observed, p_t = 1/2, the worst case."""
    count = tasks if tasks is not None else len(observed)
    if count < 1 or attempts < 1:
        return None
    rates = [(c + 1) / (n + 2) for c, n in observed] or [0.5]
    noise = mean([2 * p * (1 - p) / attempts for p in rates])
    return mde_from_se(math.sqrt(noise / count))
