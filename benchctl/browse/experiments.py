"""Experiments as the viewer and the API show them, and their reports.

A report is the one ``benchctl report`` writes (``report.writer.render``: the same queries, the
same statistics, the same charts), built on first use and kept until the database's
fingerprint moves (``browse.fingerprint``: an apply, a collection, a session ended, a
verification, an attempt), so pages after the first cost a handful of index lookups.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from benchctl.browse.models import (
    ExperimentDetail,
    ExperimentSummary,
    ObjectVersion,
    SessionCounts,
    Verdict,
)
from benchctl.db.connection import Connection
from benchctl.db.queries import query
from benchctl.report.build import verdicts
from benchctl.report.data import require_experiment
from benchctl.report.model import Report
from benchctl.report.writer import REPORT_JSON, render


@dataclass(frozen=True)
class Rendered:
    """An experiment's report: the model, ``report.json``'s text and the charts' SVGs."""

    report: Report
    json: str
    charts: dict[str, str]  # file name (latency.svg) -> SVG text


class Reports:
    """Reports built on demand and kept while the data they were built from stands."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fingerprint: tuple[Any, ...] | None = None
        self._built: dict[str, Rendered] = {}

    def get(self, conn: Connection, experiment: str) -> Rendered:
        """The report of ``experiment``: a UsageError naming the known ones if there is none."""
        row = conn.execute(query("browse.fingerprint")).fetchone()
        fingerprint = tuple(row.values()) if row else None
        with self._lock:
            if fingerprint != self._fingerprint:
                self._fingerprint, self._built = fingerprint, {}
            found = self._built.get(experiment)
        if found is not None:
            return found
        report, files = render(conn, experiment)  # a UsageError if there is no such experiment
        found = Rendered(
            report=report,
            json=files[REPORT_JSON],
            charts={
                name.removeprefix("charts/"): text
                for name, text in files.items()
                if name.startswith("charts/")
            },
        )
        with self._lock:
            if fingerprint == self._fingerprint:
                self._built[experiment] = found
        return found


def _verdicts(report: Report) -> list[Verdict]:
    words = dict(verdicts(report.summary, report.baseline))
    return [
        Verdict(
            metric=s.metric, title=s.title, outcome=s.outcome, winner=s.winner, text=words[s.title]
        )
        for s in report.summary
    ]


def _counts(row: dict[str, Any]) -> SessionCounts:
    return SessionCounts(**{k: row[k] for k in SessionCounts.model_fields})


def list_experiments(conn: Connection, reports: Reports) -> list[ExperimentSummary]:
    found = []
    for row in conn.execute(query("browse.experiments"), {"name": None}).fetchall():
        report = reports.get(conn, row["name"]).report
        found.append(
            ExperimentSummary(
                name=row["name"],
                version=row["version"],
                retired=row["retired"],
                description=report.description,
                baseline=report.baseline,
                counts=_counts(row),
                headline=report.headline,
                verdicts=_verdicts(report),
            )
        )
    return found


def warm(conn: Connection, reports: Reports) -> None:
    """Build every experiment's report now, so that the first visitor does not wait for it (a
    million calls take seconds)."""
    for row in conn.execute(query("browse.experiments"), {"name": None}).fetchall():
        reports.get(conn, row["name"])


def _objects(conn: Connection, name: str, listed: list[str]) -> list[ObjectVersion]:
    rows = {r["name"]: r for r in conn.execute(query(name), {"names": listed}).fetchall()}
    return [
        ObjectVersion(
            name=n,
            version=rows[n]["version"] if n in rows else None,
            retired=rows[n]["retired"] if n in rows else False,
            spec=rows[n]["document"].get("spec", {}) if n in rows else {},
        )
        for n in listed
    ]


def find_experiment(conn: Connection, reports: Reports, name: str) -> ExperimentDetail:
    """The experiment with its variants and task cards as applied; a UsageError if unknown."""
    info = require_experiment(conn, name)
    report = reports.get(conn, name).report
    row = conn.execute(query("browse.experiments"), {"name": name}).fetchone()
    assert row is not None  # require_experiment found it
    return ExperimentDetail(
        name=info.name,
        version=info.version,
        retired=info.retired,
        description=info.description,
        hypothesis=info.hypothesis,
        baseline=report.baseline,
        replicates=info.replicates,
        counts=_counts(row),
        headline=report.headline,
        verdicts=_verdicts(report),
        variants=_objects(conn, "browse.variants", info.variants),
        task_cards=_objects(conn, "browse.task_cards", info.task_cards),
    )
