"""The bad-input corpus: `benchctl validate` must report exactly what each case expects.

Each folder of ``tests/corpus/bad/`` is a minimal repository (only the kind folders it needs)
that breaks one rule, plus ``expected.txt``: one ``relative/path.yaml:LINE:COL CODE`` per line
(``#`` starts a comment; LINE and COL are 0 for whole-file problems). The comparison is exact and
counts duplicates, so a missing, extra, repeated or moved diagnostic fails the case.

Objects a case refers to are present and valid, so only the intended problem appears. Inputs
too big or too dangerous to commit (a 50 MB file, alias bombs, 100,000-level nesting) are
generated at test time by ``test_hostile_yaml.py``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from typer.testing import CliRunner

from benchctl.cli.app import app
from benchctl.manifests.diagnostics import CODES
from benchctl.manifests.models import FOLDER_KIND

CORPUS = Path(__file__).resolve().parent / "corpus" / "bad"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())

# Diagnostics of these codes are warnings: reported, but validation still succeeds (exit 0).
WARNING_CODES = {"BC313"}

# Codes no committed file can produce; test_hostile_yaml.py generates their inputs.
GENERATED_AT_TEST_TIME = {
    "BC101": "a file over 1 MiB",
    "BC107": "an alias bomb: even a small one expands past the limit only when big enough",
    # Hostile manifests: tests/corpus/hostile/, through validate, plan, apply and render.
    **dict.fromkeys(
        ("BC211", "BC212", "BC213", "BC214", "BC215", "BC503", "BC504", "BC505"),
        "test_hostile_manifests.py runs tests/corpus/hostile/",
    ),
}

# Every code the corpus must cover (from cases that pass, not from known-bug cases).
REQUIRED_CODES = [
    *("BC100", "BC102", "BC103", "BC104", "BC105", "BC106"),
    *("BC108", "BC109", "BC110", "BC111", "BC112", "BC113"),
    *("BC200", "BC201", "BC202", "BC203", "BC204", "BC205"),
    *("BC206", "BC207", "BC208", "BC209", "BC210"),
    *("BC300", "BC301", "BC302", "BC303", "BC304", "BC305", "BC306"),
    *("BC307", "BC308", "BC309", "BC310", "BC311", "BC312", "BC313"),
    *("BC400", "BC500", "BC501"),
]

# Cases whose expected.txt says what the validator *should* report, and it does not yet.
# Strict: once the validator is fixed the case passes, and the entry must be removed.
KNOWN_VALIDATOR_BUGS: dict[str, str] = {}

# Cases whose messages still contain an unformatted placeholder such as `{value!r}`:
# PydanticCustomError formats `{value}` only, so `{value!r}` is printed as is.
KNOWN_UNFORMATTED_MESSAGES: set[str] = set()

_EXPECTED_LINE = re.compile(r"^(?P<path>[^\s:]+):(?P<line>\d+):(?P<col>\d+) (?P<code>BC\d{3})$")
_PLACEHOLDER = re.compile(r"\{\w+(![rsa])?\}")


class Expected(NamedTuple):
    path: str
    line: int
    col: int
    code: str


def read_expected(case: str) -> list[Expected]:
    """The diagnostics listed in a case's expected.txt (comments and blank lines skipped)."""
    found = []
    text = (CORPUS / case / "expected.txt").read_text(encoding="utf-8")
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _EXPECTED_LINE.match(line)
        assert match, f"{case}/expected.txt:{number}: not `path:LINE:COL CODE`: {raw!r}"
        found.append(Expected(match["path"], int(match["line"]), int(match["col"]), match["code"]))
    return found


class Run(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str


@cache
def run_validate(case: str, output: str) -> Run:
    """`benchctl validate --root CASE --format OUTPUT` through the real command."""
    result = CliRunner().invoke(
        app,
        ["validate", "--root", str(CORPUS / case), "--format", output],
        catch_exceptions=False,
    )
    return Run(result.exit_code, result.stdout, result.stderr)


def reported(case: str) -> list[dict[str, Any]]:
    diagnostics: list[dict[str, Any]] = json.loads(run_validate(case, "json").stdout)["diagnostics"]
    return diagnostics


def expected_exit_code(case: str) -> int:
    return 0 if {e.code for e in read_expected(case)} <= WARNING_CODES else 1


def marked(cases: dict[str, str] | set[str], reason: str = "") -> list[Any]:
    return [
        pytest.param(
            case,
            marks=pytest.mark.xfail(
                strict=True, reason=cases[case] if isinstance(cases, dict) else reason
            ),
        )
        if case in cases
        else case
        for case in CASES
    ]


@pytest.mark.parametrize("case", CASES)
def test_case_is_well_formed(case: str):
    """Only kind folders and expected.txt; every expected path exists in the case."""
    folder = CORPUS / case
    entries = {p.name for p in folder.iterdir()}
    assert "expected.txt" in entries
    assert entries - {"expected.txt"} <= set(FOLDER_KIND), f"not a kind folder: {entries}"
    expected = read_expected(case)
    assert expected, "a bad case expects at least one diagnostic"
    for e in expected:
        assert e.code in CODES, f"{e.code} is not a diagnostic code"
        assert (folder / e.path).exists(), f"{e.path} is not in the case"
        assert Path(e.path).parts[0] in FOLDER_KIND


@pytest.mark.parametrize("case", marked(KNOWN_VALIDATOR_BUGS))
def test_reports_exactly_the_expected_diagnostics(case: str):
    run = run_validate(case, "json")
    assert "Traceback" not in run.stdout + run.stderr
    assert run.exit_code == expected_exit_code(case), run.stdout + run.stderr
    payload = json.loads(run.stdout)
    assert payload["format_version"] == 1
    assert payload["ok"] is (run.exit_code == 0)
    assert payload["files_checked"] >= 1
    root = CORPUS / case
    actual = [
        Expected(Path(d["path"]).relative_to(root).as_posix(), d["line"], d["col"], d["code"])
        for d in payload["diagnostics"]
    ]
    assert Counter(actual) == Counter(read_expected(case)), "reported:\n" + "\n".join(
        f"{a.path}:{a.line}:{a.col} {a.code}" for a in sorted(actual)
    )
    for d in payload["diagnostics"]:
        assert d["message"].strip(), d
        assert d["hint"].strip(), d
        assert d["title"] == CODES[d["code"]][0]
        assert d["severity"] == ("warning" if d["code"] in WARNING_CODES else "error"), d


@pytest.mark.parametrize("case", CASES)
def test_text_format_agrees_with_json(case: str):
    """Every diagnostic prints as `path:line:col: CODE message` (`path: CODE message` for
    whole-file problems) followed by a hint line."""
    text = run_validate(case, "text")
    assert "Traceback" not in text.stdout + text.stderr
    assert text.exit_code == run_validate(case, "json").exit_code
    lines = text.stdout.splitlines()
    diagnostics = reported(case)
    for d in diagnostics:
        where = f"{d['path']}:{d['line']}:{d['col']}" if d["line"] else d["path"]
        pattern = re.compile(rf"^{re.escape(where)}: {d['code']} \S")
        at = [i for i, line in enumerate(lines) if pattern.match(line)]
        assert at, f"no line matches {pattern.pattern!r} in:\n{text.stdout}"
        assert lines[at[0] + 1].startswith("    hint: "), text.stdout
    printed = [line for line in lines if re.match(r"^\S.*: BC\d{3} ", line)]
    assert len(printed) == len(diagnostics), text.stdout


@pytest.mark.parametrize(
    "case",
    marked(KNOWN_UNFORMATTED_MESSAGES, "message prints an unformatted `{value!r}` placeholder"),
)
def test_messages_are_fully_formatted(case: str):
    for d in reported(case):
        assert not _PLACEHOLDER.search(d["message"]), d["message"]
        assert not _PLACEHOLDER.search(d["hint"]), d["hint"]


def test_corpus_size_and_code_coverage():
    assert len(CASES) >= 40
    assert len({case.split("-", 1)[1] for case in CASES}) == len(CASES), "duplicate slugs"
    assert set(KNOWN_VALIDATOR_BUGS).issubset(CASES)
    assert KNOWN_UNFORMATTED_MESSAGES.issubset(CASES)
    covered = {
        e.code for case in CASES if case not in KNOWN_VALIDATOR_BUGS for e in read_expected(case)
    }
    missing = sorted(set(REQUIRED_CODES) - covered)
    assert not missing, f"no passing corpus case for {missing}"
    unaccounted = sorted(set(CODES) - covered - set(GENERATED_AT_TEST_TIME))
    assert not unaccounted, f"codes with neither a corpus case nor a generated test: {unaccounted}"
