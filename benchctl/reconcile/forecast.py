"""What the sessions a plan opens will cost and take, and what they will be able to tell apart.

Cost: each session is predicted from finished sessions of the same variant on the same task
card, else of the same variant on any task card, else from the tokens other variants' sessions
used on the same task card at this variant's prices; with no history at all, only the budget
ceiling (sessions x the experiment's budget per session) bounds it, and the forecast says so.
What the grid can tell apart: the minimum detectable success-rate difference of a paired
comparison of the experiment's task cards and replicates (docs/statistics.md), assuming nothing
of the tasks' rates (p = 1/2, the worst case).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel, ConfigDict

from benchctl.db.connection import Connection
from benchctl.db.queries import query
from benchctl.manifests.models.common import duration_seconds
from benchctl.manifests.models.provider import Prices, cost
from benchctl.reconcile.desired import DesiredState
from benchctl.report.taskstats import design_mde

# What a plan suggests adding to a design, to show how the detectable difference shrinks.
MORE_TASKS = 30


class ExperimentForecast(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    experiment: str
    task_cards: int
    replicates: int
    mde_success_rate: float | None
    mde_with_more_task_cards: float | None
    more_task_cards: int = MORE_TASKS


class Forecast(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sessions: int
    cost_usd: float | None
    cost_low_usd: float | None
    cost_high_usd: float | None
    ceiling_usd: float
    # How many sessions each kind of history predicted: same variant x task card, same
    # variant, none (bounded by the budget ceiling only).
    from_same_task: int
    from_same_variant: int
    from_tokens_at_prices: int
    without_history: int
    hours: float | None
    hours_ceiling: float
    experiments: list[ExperimentForecast]


def _history(conn: Connection) -> dict[tuple[str, str], dict[str, Any]]:
    rows = conn.execute(query("state.session_history")).fetchall()
    return {(r["variant"], r["task_card"]): r for r in rows}


def _pooled(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = sum(r["sessions"] for r in rows)
    durations = [r for r in rows if r["mean_duration_s"] is not None]
    weight = sum(r["sessions"] for r in durations)
    return {
        "sessions": n,
        "mean_cost": sum(r["mean_cost"] * r["sessions"] for r in rows) / n,
        "min_cost": min(r["min_cost"] for r in rows),
        "max_cost": max(r["max_cost"] for r in rows),
        "mean_duration_s": (
            sum(r["mean_duration_s"] * r["sessions"] for r in durations) / weight
            if weight
            else None
        ),
    }


def _prices(desired: DesiredState, variant: str) -> Prices:
    spec = desired.get("Variant", variant).document["spec"]
    provider = desired.get("Provider", spec["provider"]).document["spec"]
    return Prices.model_validate(provider["models"][spec["model"]]["prices"])


def _at_prices(rows: list[dict[str, Any]], prices: Prices) -> dict[str, Any]:
    """Other variants' sessions on the task card: the tokens each used on average, priced as
    this variant's model; the range spans the variants."""
    costs = [
        cost(
            prices,
            round(r["prompt_tokens"]),
            round(r["completion_tokens"]),
            round(r["cached_read_tokens"]),
            round(r["cache_write_tokens"]),
        )
        for r in rows
    ]
    pooled = _pooled(rows)
    weights = [r["sessions"] for r in rows]
    mean = sum(c * w for c, w in zip(costs, weights, strict=True)) / sum(weights)
    return {**pooled, "mean_cost": mean, "min_cost": min(costs), "max_cost": max(costs)}


def forecast(conn: Connection, desired: DesiredState, opening: set[str]) -> Forecast | None:
    """The forecast for the sessions with ids ``opening``; None when there are none."""
    sessions = [s for s in desired.sessions if s.id in opening]
    if not sessions:
        return None
    history = _history(conn)
    by_variant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (variant, task_card), row in history.items():
        by_variant[variant].append(row)
        by_task[task_card].append(row)
    cost = low = high = hours = 0.0
    ceiling = hours_ceiling = 0.0
    same_task = same_variant = tokens = without = 0
    for s in sessions:
        experiment = desired.get("Experiment", s.experiment).document["spec"]
        budget = float(experiment.get("session_policy", {}).get("budget_usd", 5.0))
        card = desired.get("TaskCard", s.task_card).document["spec"]
        timebox = duration_seconds(card["timebox"]) / 3600
        ceiling += budget
        hours_ceiling += timebox
        found = history.get((s.variant, s.task_card))
        if found is not None:
            same_task += 1
        elif by_variant.get(s.variant):
            found = _pooled(by_variant[s.variant])
            same_variant += 1
        elif by_task.get(s.task_card):
            found = _at_prices(by_task[s.task_card], _prices(desired, s.variant))
            tokens += 1
        else:
            without += 1
            high += budget
            hours += timebox
            continue
        # The key's budget stops a session at it, whatever the history says.
        cost += min(found["mean_cost"], budget)
        low += min(found["min_cost"], budget)
        high += min(found["max_cost"], budget)
        hours += (found["mean_duration_s"] or timebox * 3600) / 3600
    predicted = same_task + same_variant + tokens
    experiments = []
    for name in sorted({s.experiment for s in sessions}):
        spec = desired.get("Experiment", name).document["spec"]
        tasks, replicates = len(spec["task_cards"]), int(spec.get("replicates", 1))
        experiments.append(
            ExperimentForecast(
                experiment=name,
                task_cards=tasks,
                replicates=replicates,
                mde_success_rate=design_mde([], replicates, tasks),
                mde_with_more_task_cards=design_mde([], replicates, tasks + MORE_TASKS),
            )
        )
    return Forecast(
        sessions=len(sessions),
        cost_usd=cost if predicted and not without else None,
        cost_low_usd=low if predicted else None,
        cost_high_usd=high if predicted else None,
        ceiling_usd=ceiling,
        from_same_task=same_task,
        from_same_variant=same_variant,
        from_tokens_at_prices=tokens,
        without_history=without,
        hours=hours if predicted and not without else None,
        hours_ceiling=hours_ceiling,
        experiments=experiments,
    )
