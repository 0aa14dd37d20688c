"""`benchctl run`'s live board: running sessions with their step, finished ones with what they
came to, and the counts."""

from __future__ import annotations

from rich.console import Console

from benchctl.render.runs import RunBoard
from benchctl.runs.runner import Attempt, Event


def _shown(board: RunBoard) -> str:
    console = Console(record=True, width=120, color_system=None)
    console.print(board)
    return console.export_text()


def test_the_board_follows_each_session_through_its_steps():
    board = RunBoard()
    board.update(Event("demo/a/fix-median#1", "attempt 1"))
    board.update(Event("demo/b/fix-median#1", "attempt 1"))
    board.update(Event("demo/a/fix-median#1", "harness"))
    board.update(Event("session 1234abcd", "out of attempts, aborted", tidy=True))
    shown = _shown(board)
    assert "demo/a/fix-median#1  harness" in shown
    assert "demo/b/fix-median#1  attempt 1" in shown
    assert "out of attempts, aborted" in shown
    assert "2 running · 0 scored · 0 unscored · 0 infrastructure failure(s)" in shown

    scored = Attempt("id", "demo/a/fix-median#1", 1, "scored", "success", 1.0)
    board.update(Event(scored.label, scored.status, scored))
    failed = Attempt("id2", "demo/b/fix-median#1", 1, "infra_error", error="setup failed")
    board.update(Event(failed.label, failed.status, failed))
    shown = _shown(board)
    assert "demo/a/fix-median#1: scored (success)" in shown
    assert "demo/b/fix-median#1: infra_error" in shown
    assert "0 running · 1 scored · 0 unscored · 1 infrastructure failure(s)" in shown
    assert "harness" not in shown
