"""A step past its time gets SIGTERM and a grace period before SIGKILL (a harness at its
timebox saves its work), sandboxed or not; without a grace period it is killed outright."""

from __future__ import annotations

import os
import shutil

import pytest

from benchctl.tasks.process import run_step, step_env

# Exits 3 on SIGTERM, saying so; the child it waits for is a process of the step as well.
TRAPPING = "trap 'echo got TERM; exit 3' TERM; echo started; sleep 30 & wait"


@pytest.fixture(params=["none", "bwrap"])
def sandbox(request) -> bool:
    if request.param == "bwrap" and shutil.which("bwrap") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must have bubblewrap")
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")
    return request.param == "bwrap"


def test_a_step_past_its_time_gets_sigterm_then_its_grace(tmp_path, sandbox):
    done = run_step(
        ["bash", "-c", TRAPPING], cwd=tmp_path, env=step_env(tmp_path, {}), timeout=1.0,
        sandbox=sandbox, grace=10.0,
    )  # fmt: skip
    assert done.timed_out and done.exit_code is None
    assert "started" in done.log and "got TERM" in done.log, done.log
    assert done.seconds < 8, "it exited on SIGTERM, well before the grace ran out"


def test_without_grace_a_step_is_killed_outright(tmp_path, sandbox):
    done = run_step(
        ["bash", "-c", TRAPPING], cwd=tmp_path, env=step_env(tmp_path, {}), timeout=1.0,
        sandbox=sandbox,
    )  # fmt: skip
    assert done.timed_out and "got TERM" not in done.log, done.log


def test_a_step_ignoring_sigterm_is_killed_when_the_grace_runs_out(tmp_path, sandbox):
    stubborn = "trap '' TERM; echo started; sleep 30"
    done = run_step(
        ["bash", "-c", stubborn], cwd=tmp_path, env=step_env(tmp_path, {}), timeout=1.0,
        sandbox=sandbox, grace=1.0,
    )  # fmt: skip
    assert done.timed_out and 1.9 < done.seconds < 10


def test_folders_python_imports_from_under_tmp_stay_visible_in_the_sandbox(tmp_path, monkeypatch):
    """An editable install or a venv in a /tmp checkout (CI's clones) would vanish under the
    sandbox's private /tmp, and `python -m benchctl...` steps with it."""
    if shutil.which("bwrap") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must have bubblewrap")
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")
    packages = tmp_path / "site"
    (packages / "inner").mkdir(parents=True)
    (packages / "inner" / "marker.txt").write_text("visible\n")
    other = tmp_path / "other"
    other.mkdir()
    (other / "marker.txt").write_text("private\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(
        "sys.path", [*__import__("sys").path, str(packages), str(packages / "inner")]
    )
    done = run_step(
        ["bash", "-c", f"cat {packages}/inner/marker.txt; cat {other}/marker.txt || echo hidden"],
        cwd=work, env=step_env(work, {}), timeout=30.0, sandbox=True,
    )  # fmt: skip
    assert "visible" in done.log and "private" not in done.log and "hidden" in done.log, done.log
