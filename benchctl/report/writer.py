"""Writing a report's files, or checking that committed ones are current.

``<out>/<experiment>/`` holds ``README.md``, ``report.json`` and ``charts/*.svg``, and may hold
``data/``, the raw bundle the report was computed from (`benchctl export`): when it is there it
is rewritten with the report, so a committed report and its data never disagree. Nothing else
there is touched. The same data gives the same bytes: stable ordering, fixed rounding, and no
timestamp but the data's own window, so a scheduled job commits only when results changed.
Files are replaced atomically (written beside, then renamed), so a killed run leaves either the
old file or the new one.
"""

from __future__ import annotations

import filecmp
import json
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchctl.db.connection import Connection, connect
from benchctl.export.bundle import MANIFESTS, TABLES, Format, export_experiment
from benchctl.report import charts, data, markdown
from benchctl.report.build import build
from benchctl.report.data import round_significant
from benchctl.report.model import Report
from benchctl.settings import Settings

README = "README.md"
REPORT_JSON = "report.json"
CHARTS_DIR = "charts"
DATA_DIR = "data"
# Every file an export can write, in either format: what `data/` may hold that is ours.
_BUNDLE = {MANIFESTS, *(f"{table}.{ext}" for table in TABLES for ext in ("csv", "jsonl"))}
# report.json keeps more digits than the tables show, but not the last bits of a double, which
# can depend on the order PostgreSQL summed the rows in.
JSON_SIGNIFICANT = 6


@dataclass(frozen=True)
class ReportResult:
    experiment: str
    directory: Path
    report: Report
    # Paths relative to ``directory``: what this run wrote or deleted (empty: already current).
    written: list[str]
    removed: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)

    @property
    def headline(self) -> str:
        return self.report.headline


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round_significant(value, JSON_SIGNIFICANT)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def to_json(report: Report) -> str:
    payload = _rounded(report.model_dump(mode="json"))
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def render(conn: Connection, experiment: str) -> tuple[Report, dict[str, str]]:
    """The report of ``experiment`` and its files (relative path -> text)."""
    loaded = data.load(conn, experiment)
    report = build(loaded)
    entries, svgs = charts.render(report, loaded.histograms)
    report = report.model_copy(update={"charts": entries})
    files = {README: markdown.render(report), REPORT_JSON: to_json(report), **svgs}
    return report, dict(sorted(files.items()))


def _owned(directory: Path) -> set[str]:
    """Files a report writes that are present in ``directory`` (others are left alone)."""
    found = {name for name in (README, REPORT_JSON) if (directory / name).is_file()}
    if (directory / CHARTS_DIR).is_dir():
        found |= {f"{CHARTS_DIR}/{p.name}" for p in (directory / CHARTS_DIR).glob("*.svg")}
    return found


def _diff(directory: Path, files: dict[str, str]) -> tuple[list[str], list[str]]:
    """(files missing or different, files that should no longer exist)."""
    stale = [
        rel
        for rel, text in files.items()
        if not (directory / rel).is_file() or (directory / rel).read_bytes() != text.encode("utf-8")
    ]
    return stale, sorted(_owned(directory) - set(files))


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(text.encode("utf-8"))
    tmp.replace(path)


def _connection(source: Connection | Settings, stack: ExitStack) -> Connection:
    if isinstance(source, Settings):
        return stack.enter_context(connect(source, upgrade=False))
    return source


def _bundle(
    conn: Connection, experiment: str, directory: Path, *, write: bool, create: bool
) -> tuple[list[str], list[str]]:
    """Files of ``directory/data/`` that differ from a fresh export, and bundle files a fresh
    export no longer writes (replaced and removed when ``write``).

    Only a bundle that exists is kept current, unless ``create``: a scheduled report does not
    start committing raw data nobody asked for.
    """
    target = directory / DATA_DIR
    if not (target.is_dir() or create):
        return [], []
    # The format most of the bundle is in: a stray file of the other one is what goes.
    counts = {
        ext: len([p for p in target.glob(f"*.{ext}") if p.name in _BUNDLE])
        for ext in ("csv", "jsonl")
    }
    fmt: Format = "jsonl" if counts["jsonl"] > counts["csv"] else "csv"
    if write:
        directory.mkdir(parents=True, exist_ok=True)
    # Beside the target when writing, so each file moves into place with an atomic rename;
    # elsewhere when checking, so a read-only checkout can be checked.
    with tempfile.TemporaryDirectory(prefix=".data-", dir=directory if write else None) as scratch:
        fresh = export_experiment(conn, experiment, Path(scratch), fmt)
        changed = [
            name
            for name in sorted(fresh.files)
            if not (target / name).is_file()
            or not filecmp.cmp(Path(scratch, name), target / name, shallow=False)
        ]
        bundle_names = {
            MANIFESTS,
            *(f"{table}.{ext}" for table in TABLES for ext in ("csv", "jsonl")),
        }
        obsolete = sorted(
            p.name for p in target.glob("*") if p.name in bundle_names - set(fresh.files)
        )
        if write:
            target.mkdir(exist_ok=True)
            for name in changed:
                Path(scratch, name).replace(target / name)
            for name in obsolete:
                (target / name).unlink()
    return [f"{DATA_DIR}/{n}" for n in changed], [f"{DATA_DIR}/{n}" for n in obsolete]


def write_report(
    source: Connection | Settings, experiment: str, out_dir: Path, *, bundle: bool = False
) -> ReportResult:
    """Write ``out_dir/<experiment>/``; files already current are not rewritten.

    ``bundle`` writes the raw data under ``data/`` even where there is none yet.
    """
    directory = out_dir / experiment
    with ExitStack() as stack:
        conn = _connection(source, stack)
        report, files = render(conn, experiment)
        stale, obsolete = _diff(directory, files)
        for rel in stale:
            _write_atomic(directory / rel, files[rel])
        for rel in obsolete:
            (directory / rel).unlink()
        data, gone = _bundle(conn, experiment, directory, write=True, create=bundle)
    return ReportResult(experiment, directory, report, stale + data, obsolete + gone)


def check_report(source: Connection | Settings, experiment: str, out_dir: Path) -> ReportResult:
    """What ``write_report`` would change, without writing (``written``/``removed``)."""
    directory = out_dir / experiment
    with ExitStack() as stack:
        conn = _connection(source, stack)
        report, files = render(conn, experiment)
        stale, obsolete = _diff(directory, files)
        data, gone = _bundle(conn, experiment, directory, write=False, create=False)
    return ReportResult(experiment, directory, report, stale + data, obsolete + gone)
