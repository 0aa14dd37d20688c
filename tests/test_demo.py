"""README's first command: `benchctl demo`, end to end on the real stack, against the committed
demo report."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO_ROOT, copy_manifests

COMMITTED = REPO_ROOT / "artifacts" / "demo"
# What the simulator's seed fixes: the same on every run. Timings are measured, so they are not.
DETERMINISTIC = (
    "sessions",
    "sessions_with_outcome",
    "sessions_succeeded",
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cached_read_tokens",
    "cost_usd",
)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the demo must run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def demo_run() -> Iterator[tuple[subprocess.CompletedProcess[str], Path]]:
    if not (Path(sys.executable).parent / "litellm").exists():
        _unavailable("litellm is not installed: pip install -e '.[proxy]'")
    env = dict(os.environ)
    kit = REPO_ROOT.parent / "shared" / "litellm-offline" / "setup.sh"
    if "BENCHCTL_LITELLM_PREPARE" not in env and kit.exists():
        env["BENCHCTL_LITELLM_PREPARE"] = str(kit)
    for name in ("BENCHCTL_DATABASE_URL", "BENCHCTL_PROXY_URL", "BENCHCTL_PROXY_MASTER_KEY"):
        env.pop(name, None)  # the demo must not need them, nor use them
    # Not under pytest's 0700 tmp: as root, pgserver runs postgres as its own user.
    root = Path(tempfile.mkdtemp(prefix="benchctl-demo-test-"))
    root.chmod(0o755)
    try:
        copy_manifests(root)
        done = subprocess.run(
            [sys.executable, "-m", "benchctl", "demo", "--root", str(root)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        yield done, root
    finally:
        subprocess.run(
            [sys.executable, "-m", "benchctl", "down", "--root", str(root / ".benchctl" / "demo")],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


def _figures(report: dict) -> dict[str, dict[str, object]]:
    return {
        v["variant"]: {name: v["figures"][name] for name in DETERMINISTIC}
        for v in report["variants"]
    }


def test_demo_completes_and_collects_every_request(demo_run):
    done, root = demo_run
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    # 4 variants x 3 task cards x 2 replicates, each run headless, verified, both outcomes seen.
    assert re.search(r"Drove 24 sessions \(\d+ failure, \d+ success\)", done.stdout), done.stdout
    sent = json.loads((COMMITTED / "report.json").read_text())["totals"]["requests"]
    assert f"{sent} of {sent} requests collected" in done.stdout
    report = root / "artifacts" / "demo"
    for name in ("README.md", "report.json", "charts/latency.svg", "data/requests.csv"):
        assert (report / name).is_file(), name
    # The demo's own stack is down again: no process runs from its workspace.
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    leftovers = [line for line in ps.stdout.splitlines() if str(root) in line]
    assert leftovers == []


def test_demo_reproduces_the_committed_report(demo_run):
    """Run again, the demo gives the committed report's counts, tokens, costs, errors and
    outcomes exactly; its headline winners on those are the same too."""
    done, root = demo_run
    assert done.returncode == 0, done.stderr[-3000:]
    produced = json.loads((root / "artifacts" / "demo" / "report.json").read_text())
    committed = json.loads((COMMITTED / "report.json").read_text())
    assert _figures(produced) == _figures(committed)
    assert produced["totals"]["requests"] == committed["totals"]["requests"]
    assert [s["metric"] for s in produced["summary"]] == [s["metric"] for s in committed["summary"]]


def test_demo_leaves_the_repository_alone(demo_run):
    done, root = demo_run
    assert done.returncode == 0, done.stderr[-3000:]
    experiment = (root / "experiments" / "demo.yaml").read_text()
    assert experiment == (REPO_ROOT / "experiments" / "demo.yaml").read_text()
    assert not (root / ".benchctl" / "pgdata").exists(), (
        "the demo used the repository's own database"
    )
