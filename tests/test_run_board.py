"""`benchctl run`'s live board: running sessions with their step, finished ones with what they
came to, and the counts."""

from __future__ import annotations

from rich.console import Console

from benchctl.render.runs import RunBoard
from benchctl.runs.runner import Attempt


def _shown(board: RunBoard) -> str:
    console = Console(record=True, width=120, color_system=None)
    console.print(board)
    return console.export_text()


def test_the_board_follows_each_session_through_its_steps():
    board = RunBoard()
    board.update("demo/a/fix-median#1: attempt 1", None)
    board.update("demo/b/fix-median#1: attempt 1", None)
    board.update("demo/a/fix-median#1: harness", None)
    board.update("session 1234abcd: out of attempts, aborted", None)
    shown = _shown(board)
    assert "demo/a/fix-median#1  harness" in shown
    assert "demo/b/fix-median#1  attempt 1" in shown
    assert "out of attempts, aborted" in shown
    assert "2 running · 0 scored · 0 unscored · 0 infrastructure failure(s)" in shown

    board.update(
        "demo/a/fix-median#1: scored",
        Attempt("id", "demo/a/fix-median#1", 1, "scored", "success", 1.0),
    )
    board.update(
        "demo/b/fix-median#1: infra_error",
        Attempt("id2", "demo/b/fix-median#1", 1, "infra_error", error="setup failed"),
    )
    shown = _shown(board)
    assert "demo/a/fix-median#1: scored (success)" in shown
    assert "demo/b/fix-median#1: infra_error" in shown
    assert "0 running · 1 scored · 0 unscored · 1 infrastructure failure(s)" in shown
    assert "harness" not in shown
