"""What a verifier's output says: its reward (exit code or reward file) and per-test results.

Reward files follow Terminal-Bench/Harbor: ``reward.txt`` holds one number, ``reward.json`` an
object of numbers whose ``reward`` is the reward and whose other keys are named sub-scores
(without ``reward``, the reward is their mean). JUnit XML files in the output folder give
per-test results; failing that, pytest's ``-rA``/``-v`` lines in the log do.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from xml.etree import ElementTree

from benchctl.errors import TaskError

CheckStatus = Literal["passed", "failed", "skipped"]
# A reward file is a number or a small object; anything larger is not one.
_MAX_REWARD_FILE = 64 * 1024
_MAX_CHECKS = 5_000
_MAX_JUNIT = 16 * 1024 * 1024
_STATUS = "PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS"
# `PASSED tests/t.py::test_a` (-rA summary) or `tests/t.py::test_a PASSED` (-v).
_PYTEST_LINE = re.compile(rf"^(?:({_STATUS}) (\S+::\S+)|(\S+::\S+) ({_STATUS})\b)", re.MULTILINE)
_PYTEST_STATUS: dict[str, CheckStatus] = {
    "PASSED": "passed", "XPASS": "passed", "FAILED": "failed", "ERROR": "failed",
    "SKIPPED": "skipped", "XFAIL": "skipped",
}  # fmt: skip


@dataclass(frozen=True)
class Check:
    name: str
    status: CheckStatus


@dataclass(frozen=True)
class Reward:
    value: float
    subscores: dict[str, float]
    source: Literal["exit-code", "reward.txt", "reward.json"]


def _score(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TaskError(f"{where} is {value!r}, not a number.")
    if not 0 <= value <= 1:
        raise TaskError(f"{where} is {value}, outside [0, 1].")
    return float(value)


def _read_small(path: Path) -> str:
    if path.is_symlink() or not path.is_file():
        raise TaskError(f"{path.name} is not a regular file.")
    if path.stat().st_size > _MAX_REWARD_FILE:
        raise TaskError(f"{path.name} is larger than {_MAX_REWARD_FILE // 1024} KiB.")
    return path.read_text(encoding="utf-8", errors="replace")


def read_reward(out_dir: Path, exit_code: int) -> Reward:
    """The reward the verifier wrote to ``out_dir``, else 1.0 for exit 0 and 0.0 otherwise.

    Raises TaskError for a reward file that is not a reward: the attempt is then unscored.
    """
    as_json = out_dir / "reward.json"
    as_text = out_dir / "reward.txt"
    if as_json.exists() or as_json.is_symlink():
        try:
            data = json.loads(_read_small(as_json))
        except json.JSONDecodeError as exc:
            raise TaskError(f"reward.json is not JSON: {exc.msg} at line {exc.lineno}.") from None
        if not isinstance(data, dict) or not data:
            raise TaskError("reward.json is not an object of named scores.")
        scores = {str(k): _score(v, f"reward.json's {k!r}") for k, v in data.items()}
        value = scores.pop("reward", None)
        if value is None:
            value = sum(scores.values()) / len(scores)
        return Reward(value, scores, "reward.json")
    if as_text.exists() or as_text.is_symlink():
        text = _read_small(as_text).strip()
        try:
            number = float(text)
        except ValueError:
            raise TaskError(f"reward.txt holds {text[:40]!r}, not a number.") from None
        return Reward(_score(number, "reward.txt"), {}, "reward.txt")
    return Reward(1.0 if exit_code == 0 else 0.0, {}, "exit-code")


def _junit(path: Path) -> list[Check]:
    # Expat (2.4.1 and newer, as every supported Python ships) refuses entity blow-ups, and
    # ElementTree never fetches external entities; the size cap bounds the rest.
    if path.stat().st_size > _MAX_JUNIT:
        return []
    try:
        tree = ElementTree.parse(path)  # noqa: S314 (see above)
    except Exception:  # a broken report says nothing about the tests; the log still does
        return []
    found = []
    for case in tree.iter("testcase"):
        name = case.get("name", "?")
        classname = case.get("classname")
        status: CheckStatus = "passed"
        if case.find("failure") is not None or case.find("error") is not None:
            status = "failed"
        elif case.find("skipped") is not None:
            status = "skipped"
        found.append(Check(f"{classname}::{name}" if classname else name, status))
    return found


def read_checks(out_dir: Path, log: str) -> list[Check]:
    """Per-test results: JUnit XML files in ``out_dir``, else pytest's lines in the log."""
    found: list[Check] = []
    for report in sorted(out_dir.glob("*.xml")):
        if report.is_file() and not report.is_symlink():
            found.extend(_junit(report))
    if not found:
        seen: dict[str, CheckStatus] = {}
        for m in _PYTEST_LINE.finditer(log):
            status, name = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
            seen[name] = _PYTEST_STATUS[status]
        found = [Check(name, status) for name, status in seen.items()]
    return found[:_MAX_CHECKS]
