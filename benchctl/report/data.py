"""What a report reads from the benchmark database: a constant number of queries per
experiment, whatever its number of requests.

Every aggregate over requests is computed by PostgreSQL (the rollups views, a quality count, log
histograms); Python receives one row per level x variant x task card, one per session, and one
per histogram bin. Floats are rounded to ``SIGNIFICANT`` digits on the way in: a sum of doubles
depends on the order rows were added in, and a report must not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from benchctl.db.connection import Connection
from benchctl.db.queries import query
from benchctl.errors import UsageError

SIGNIFICANT = 9
# Ten bins to a factor of ten: each bin is 26% wider than the last, finer than the spread of
# one session's calls, coarse enough for a few hundred calls per variant to draw a shape.
BINS_PER_DECADE = 10

Row = dict[str, Any]


def round_significant(value: float, digits: int) -> float:
    if value == 0 or value != value or value in (float("inf"), float("-inf")):
        return value
    return float(f"{value:.{digits - 1}e}")


def _clean(row: Row) -> Row:
    return {
        key: round_significant(value, SIGNIFICANT) if isinstance(value, float) else value
        for key, value in row.items()
    }


@dataclass(frozen=True)
class ExperimentInfo:
    name: str
    version: int
    retired: bool
    description: str
    hypothesis: str
    variants: list[str]
    task_cards: list[str]
    baseline: str
    replicates: int = 1
    # Whether outcomes the operator typed count towards success rates (else verified only).
    self_reported_outcomes: Literal["exclude", "include"] = "exclude"


@dataclass(frozen=True)
class Histogram:
    """Counts per log10 bin: bin ``i`` spans ``10**((lo_bin + i) / per_decade)`` up to the
    next edge."""

    metric: str
    variant: str
    variant_version: int
    lo_bin: int
    hi_bin: int
    per_decade: int
    counts: dict[int, int]

    def edges(self) -> list[float]:
        return [10 ** (b / self.per_decade) for b in range(self.lo_bin, self.hi_bin + 1)]


@dataclass(frozen=True)
class ReportData:
    experiment: ExperimentInfo
    # Current version of every variant the manifest lists, for those without sessions.
    listed_versions: dict[str, int]
    rollups: list[Row]
    sessions: list[Row]
    quality: list[Row]
    histograms: list[Histogram]
    # Per variant: successful calls Prometheus counted that the spend logs lack.
    spend_log_gaps: list[Row] = field(default_factory=list)
    # Each session's cost three ways: recomputed, LiteLLM's spend, the harness's account.
    ledger: list[Row] = field(default_factory=list)
    # Headless sessions' attempts per variant: what infrastructure cost, apart from results.
    attrition: list[Row] = field(default_factory=list)

    @property
    def window(self) -> tuple[datetime, datetime] | None:
        """First call's start to last call's end; None without requests."""
        if not self.quality:
            return None
        return (
            min(r["first_request_at"] for r in self.quality),
            max(r["last_request_at"] for r in self.quality),
        )


def experiment_names(conn: Connection) -> list[str]:
    return [row["name"] for row in conn.execute(query("report.experiment_names")).fetchall()]


def require_experiment(conn: Connection, name: str) -> ExperimentInfo:
    """The experiment as applied; a UsageError naming the known ones if there is none."""
    row = conn.execute(query("report.experiment"), {"experiment": name}).fetchone()
    if row is None:
        known = experiment_names(conn)
        hint = f" Known: {', '.join(known)}." if known else " None is applied yet."
        raise UsageError(
            f"no experiment {name!r} in the benchmark database; `benchctl apply` creates it from"
            f" experiments/{name}.yaml.{hint}"
        )
    document = row["document"]
    spec = document.get("spec", {})
    return ExperimentInfo(
        name=row["name"],
        version=row["version"],
        retired=row["retired"],
        description=str(document.get("metadata", {}).get("description", "")).strip(),
        hypothesis=str(spec.get("hypothesis", "")).strip(),
        variants=list(spec.get("variants", [])),
        task_cards=list(spec.get("task_cards", [])),
        baseline=str(spec.get("baseline", "")),
        replicates=int(spec.get("replicates", 1)),
        self_reported_outcomes=(
            "include" if spec.get("self_reported_outcomes") == "include" else "exclude"
        ),
    )


def _histograms(conn: Connection, name: str) -> list[Histogram]:
    params = {"experiment": name, "per_decade": BINS_PER_DECADE}
    found: dict[tuple[str, str, int], Histogram] = {}
    for row in conn.execute(query("report.histograms"), params).fetchall():
        key = (row["metric"], row["variant"], row["variant_version"])
        if key not in found:
            found[key] = Histogram(*key, row["lo_bin"], row["hi_bin"], BINS_PER_DECADE, {})
        found[key].counts[row["bin"]] = row["count"]
    return list(found.values())


def load(conn: Connection, name: str) -> ReportData:
    """Everything a report of experiment ``name`` needs, in nine queries."""
    experiment = require_experiment(conn, name)
    versions = conn.execute(query("report.variant_versions"), {"names": experiment.variants})
    params = {"experiment": name}
    return ReportData(
        experiment=experiment,
        listed_versions={row["name"]: row["version"] for row in versions.fetchall()},
        rollups=[_clean(r) for r in conn.execute(query("report.rollups"), params).fetchall()],
        sessions=[_clean(r) for r in conn.execute(query("report.sessions"), params).fetchall()],
        quality=[_clean(r) for r in conn.execute(query("report.quality"), params).fetchall()],
        histograms=_histograms(conn, name),
        spend_log_gaps=conn.execute(query("report.spend_log_gaps"), params).fetchall(),
        ledger=conn.execute(query("report.ledger"), params).fetchall(),
        attrition=conn.execute(query("report.attrition"), params).fetchall(),
    )
