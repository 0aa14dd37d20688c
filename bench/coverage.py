"""Coverage of the report's success-rate intervals, by simulation with a known truth.

Each simulated experiment draws task cards from a population whose difficulty varies (a task's
logit ~ Normal(0, SPREAD)), runs a baseline and a variant ATTEMPTS times on each (the variant's
logit shifted by EFFECT), and computes:

- the paired cluster-bootstrap interval the report uses (task card as the unit), and
- the old session-level interval (Newcombe's hybrid score over pooled sessions, as statsmodels
  computes it), for comparison.

The truth is the population's mean per-task difference, by Monte Carlo over a million tasks.
Prints each interval's coverage (the share of experiments whose interval holds the truth) and
mean width; a 95% interval should cover 93-97% of the time.

    python bench/coverage.py [--experiments 1000] [--tasks 30] [--attempts 3]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time

from statsmodels.stats.proportion import confint_proportions_2indep

from benchctl.report import taskstats

SPREAD = 1.5
EFFECT = 0.5


def _p(logit: float) -> float:
    return 1 / (1 + math.exp(-logit))


def truth(effect: float, draws: int = 1_000_000, seed: int = 0) -> float:
    rng = random.Random(seed)
    total = 0.0
    for _ in range(draws):
        d = rng.gauss(0, SPREAD)
        total += _p(d + effect) - _p(d)
    return total / draws


def experiment(rng: random.Random, tasks: int, attempts: int, effect: float):
    base, variant = {}, {}
    for t in range(tasks):
        d = rng.gauss(0, SPREAD)
        base[f"t{t}"] = [rng.random() < _p(d) for _ in range(attempts)]
        variant[f"t{t}"] = [rng.random() < _p(d + effect) for _ in range(attempts)]
    return base, variant


def newcombe(base, variant) -> tuple[float, float]:
    s0 = sum(sum(a) for a in base.values())
    n0 = sum(len(a) for a in base.values())
    s1 = sum(sum(a) for a in variant.values())
    n1 = sum(len(a) for a in variant.values())
    low, high = confint_proportions_2indep(s1, n1, s0, n0, method="newcomb", compare="diff")
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    target = truth(EFFECT)
    rng = random.Random(args.seed)
    paired_hits, session_hits = 0, 0
    paired_widths, session_widths = [], []
    started = time.perf_counter()
    for i in range(args.experiments):
        base, variant = experiment(rng, args.tasks, args.attempts, EFFECT)
        found = taskstats.paired_success(base, variant, (f"sim-{i}",))
        if found.interval is not None:
            paired_hits += found.interval.low <= target <= found.interval.high
            paired_widths.append(found.interval.high - found.interval.low)
        low, high = newcombe(base, variant)
        session_hits += low <= target <= high
        session_widths.append(high - low)
    seconds = time.perf_counter() - started
    n = args.experiments
    print(
        f"{n} experiments, {args.tasks} task cards x {args.attempts} attempts a side, task"
        f" logit spread {SPREAD}, effect {EFFECT} logit (true difference {target:+.4f})"
    )
    print(
        f"  paired cluster bootstrap (task card as unit): coverage {paired_hits / n:.1%},"
        f" median width {statistics.median(paired_widths):.3f}"
    )
    print(
        f"  session-level Newcombe (the old method):     coverage {session_hits / n:.1%},"
        f" median width {statistics.median(session_widths):.3f}"
    )
    print(f"  {seconds:.0f} s")


if __name__ == "__main__":
    main()
