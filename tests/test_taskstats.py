"""The task-level statistics against reference implementations on the same generated data:
statsmodels (McNemar, Holm, power) and scipy (bootstrap, standard error); pass@k and pass^k
against brute-force enumeration."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower

from benchctl.report import taskstats as ts


@pytest.mark.parametrize(("b", "c"), [(0, 0), (1, 0), (3, 10), (7, 7), (12, 2), (40, 61)])
def test_mcnemar_exact_matches_statsmodels(b, c):
    table = [[5, b], [c, 9]]
    expected = mcnemar(table, exact=True).pvalue
    assert ts.mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_mcnemar_exact_survives_many_flips():
    assert 0 < ts.mcnemar_exact(900, 1100) < 1e-5


@pytest.mark.parametrize("seed", range(8))
def test_holm_matches_statsmodels(seed):
    rng = random.Random(seed)
    p = [rng.choice([rng.random() * 0.05, rng.random()]) for _ in range(rng.randint(1, 9))]
    names = [f"v{i}" for i in range(len(p))]
    mine = ts.holm(dict(zip(names, p, strict=True)))
    reference = multipletests(p, alpha=0.05, method="holm")[0]
    assert [mine[n] for n in names] == list(reference)


def _brute(n: int, c: int, k: int) -> tuple[float, float]:
    """Over every k-subset of n attempts with c successes: share with one success, with all."""
    attempts = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    any_ = sum(any(attempts[i] for i in s) for s in subsets) / len(subsets)
    all_ = sum(all(attempts[i] for i in s) for s in subsets) / len(subsets)
    return any_, all_


@pytest.mark.parametrize("n", range(1, 8))
def test_pass_at_k_and_pass_hat_k_match_enumeration(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            any_, all_ = _brute(n, c, k)
            assert ts.pass_at_k(n, c, k) == pytest.approx(any_, abs=1e-12)
            assert ts.pass_hat_k(n, c, k) == pytest.approx(all_, abs=1e-12)


def test_pass_curves_average_over_tasks_up_to_the_fewest_attempts():
    tasks = {"a": [True, False, True], "b": [False, False, False, True], "c": [True, True, True]}
    curves = ts.pass_curves(tasks)
    assert [k for k, _, _ in curves] == [1, 2, 3]
    k2 = curves[1]
    assert k2[1] == pytest.approx((ts.pass_at_k(3, 2, 2) + ts.pass_at_k(4, 1, 2) + 1) / 3)
    assert k2[2] == pytest.approx((ts.pass_hat_k(3, 2, 2) + 0 + 1) / 3)


def _tasks(rng: random.Random, count: int, attempts: int, shift: float = 0.0):
    out = {}
    for t in range(count):
        p = min(1.0, max(0.0, rng.random() + shift))
        out[f"t{t:02d}"] = [rng.random() < p for _ in range(attempts)]
    return out


def test_clt_se_matches_scipy_sem():
    rng = random.Random(3)
    values = [rng.random() for _ in range(25)]
    assert ts.clt_se(values) == pytest.approx(sps.sem(values), rel=1e-12)


def test_cluster_interval_matches_scipy_bootstrap_of_task_means():
    """Resampling task cards with their attempts is resampling the per-task rates: scipy's
    percentile bootstrap of the mean over those rates gives the same interval, up to noise."""
    rng = random.Random(11)
    tasks = _tasks(rng, 30, 3)
    mine = ts.cluster_interval(tasks, ts.success_rate, ("test",), resamples=20_000)
    rates = np.array([sum(a) / len(a) for _, a in sorted(tasks.items())])
    reference = sps.bootstrap(
        (rates,), np.mean, method="percentile", n_resamples=20_000, random_state=1
    ).confidence_interval
    assert mine is not None
    assert mine.low == pytest.approx(reference.low, abs=0.015)
    assert mine.high == pytest.approx(reference.high, abs=0.015)


def test_paired_interval_matches_scipy_paired_bootstrap():
    rng = random.Random(5)
    base = _tasks(rng, 40, 2)
    variant = {t: [rng.random() < 0.7 for _ in a] for t, a in base.items()}
    mine = ts.paired_success(base, variant, ("test",))
    b = np.array([sum(base[t]) / 2 for t in sorted(base)])
    v = np.array([sum(variant[t]) / 2 for t in sorted(base)])
    reference = sps.bootstrap(
        (b, v), lambda x, y: np.mean(y - x), paired=True, method="percentile",
        n_resamples=20_000, random_state=2,
    ).confidence_interval  # fmt: skip
    assert mine.estimate == pytest.approx(float(np.mean(v - b)))
    assert mine.interval is not None and mine.method == "paired cluster bootstrap"
    assert mine.interval.low == pytest.approx(reference.low, abs=0.02)
    assert mine.interval.high == pytest.approx(reference.high, abs=0.02)
    # The MDE is what a paired test at 80% power detects given the observed per-task spread.
    se = sps.sem(v - b)
    d = NormalIndPower().solve_power(nobs1=len(b), alpha=0.05, power=0.8, ratio=0)
    assert mine.mde == pytest.approx(d * se * math.sqrt(len(b)), rel=1e-5)


def test_one_attempt_a_side_uses_mcnemar_and_lists_the_flips():
    base = {f"t{i}": [i < 10] for i in range(30)}
    variant = {f"t{i}": [i < 4 or 10 <= i < 22] for i in range(30)}
    found = ts.paired_success(base, variant, ("test",))
    assert found.method == "McNemar exact"
    assert len(found.variant_only) == 12 and len(found.baseline_only) == 6
    assert found.p_value == pytest.approx(mcnemar([[4, 6], [12, 8]], exact=True).pvalue)


def test_paired_needs_tasks_in_common():
    base = {"a": [True], "b": [False]}
    found = ts.paired_success(base, {"a": [True], "c": [True]}, ("test",))
    assert (found.tasks, found.interval, found.p_value) == (1, None, None)


def test_design_mde_matches_statsmodels_power():
    observed = [(1, 3), (2, 3), (0, 3), (3, 3)]
    rates = [(c + 1) / (n + 2) for c, n in observed]
    sd = math.sqrt(sum(2 * p * (1 - p) / 3 for p in rates) / len(rates))
    d = NormalIndPower().solve_power(nobs1=40, alpha=0.05, power=0.8, ratio=0)
    assert ts.design_mde(observed, attempts=3, tasks=40) == pytest.approx(d * sd, rel=1e-5)
    # More task cards, smaller detectable difference; nothing observed assumes p = 1/2.
    assert ts.design_mde([], attempts=1, tasks=100) < ts.design_mde([], attempts=1, tasks=25)


@pytest.mark.parametrize(("successes", "n"), [(0, 5), (3, 10), (81, 263), (20, 20), (1, 1)])
def test_wilson_matches_statsmodels(successes, n):
    from statsmodels.stats.proportion import proportion_confint

    from benchctl.report import stats

    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    found = stats.wilson(successes, n)
    assert found is not None
    assert (found.low, found.high) == pytest.approx((low, high), abs=1e-9)
