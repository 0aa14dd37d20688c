"""The worst templates cost `validate` well under a second and a few MB, measured with rusage.

Each template of the hostile corpus that attacks the budget (huge integers, repetition, nested
loops, format widths, doubling concatenations, long output) runs through the real command in a
child process, and the child's own CPU time and peak memory (os.wait4) are compared with a
validate of the same repository without it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from benchctl.manifests import sandbox

from conftest import copy_manifests

CORPUS = Path(__file__).parent / "corpus" / "hostile"
TEMPLATE_CASES = sorted(p.name for p in CORPUS.iterdir() if "-template-" in p.name)
CPU_SECONDS = 0.5
EXTRA_MB = 16


def measured_validate(root: Path) -> tuple[int, float, float]:
    """Exit code, CPU seconds and peak resident MB of `benchctl validate` on ``root``."""
    child = subprocess.Popen(
        [sys.executable, "-m", "benchctl", "validate", "--root", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # A template that escapes the budget would run for minutes: kill it, and the CPU check fails.
    killer = threading.Timer(30, child.kill)
    killer.start()
    try:
        _, status, usage = os.wait4(child.pid, 0)
    finally:
        killer.cancel()
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[float, float]:
    root = copy_manifests(tmp_path_factory.mktemp("baseline"))
    runs = [measured_validate(root) for _ in range(3)]
    assert all(code == 0 for code, _, _ in runs)
    return max(cpu for _, cpu, _ in runs), max(mb for _, _, mb in runs)


def test_the_corpus_has_the_budget_attacks():
    assert len(TEMPLATE_CASES) >= 9


@pytest.mark.parametrize("case", TEMPLATE_CASES)
def test_worst_templates_stay_within_budget(case: str, baseline, tmp_path: Path):
    root = copy_manifests(tmp_path / "repo")
    for file in (CORPUS / case).rglob("*.yaml"):
        shutil.copyfile(file, root / file.relative_to(CORPUS / case))
    code, cpu, mb = measured_validate(root)
    base_cpu, base_mb = baseline
    assert code == 1  # refused, with its diagnostic (test_hostile_manifests checks which)
    # Each template over budget may cost up to the per-render bound; all of them together
    # never more than the validate-wide one.
    templates = sum(1 for line in (CORPUS / case / "expected.txt").open() if " BC5" in line)
    allowed = min(CPU_SECONDS * max(templates, 1), sandbox.MAX_TOTAL_SECONDS + CPU_SECONDS)
    assert cpu < base_cpu + allowed, f"{case}: {cpu:.2f}s of CPU (baseline {base_cpu:.2f}s)"
    assert mb < base_mb + EXTRA_MB, f"{case}: {mb:.0f} MB peak (baseline {base_mb:.0f} MB)"


def test_all_renders_of_one_validate_share_a_total_budget(monkeypatch):
    """Many templates each just under the per-render bound cannot add up to a stalled job."""
    from jinja2 import StrictUndefined

    monkeypatch.setattr(sandbox, "MAX_TOTAL_SECONDS", 0.6)
    env = sandbox.BudgetedSandbox(undefined=StrictUndefined, autoescape=False)
    loop = "{% for x in [1]*200 %}"
    slow = loop * 3 + "{% endfor %}" * 3
    refused = []
    with sandbox.total_budget():
        for _ in range(6):
            with pytest.raises(sandbox.TemplateBudgetError) as raised:
                env.render(slow, {})
            refused.append(str(raised.value))
        assert sandbox.exhausted()
    assert not sandbox.exhausted()  # the scope ended
    assert "rendering took longer than" in refused[0]
    assert "took more than 0.6s in all" in refused[-1]
