"""`benchctl run`'s live board for a terminal: each running session with its step and time, and
what the finished ones came to. CI logs (not a terminal) get one line per event instead."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from benchctl.runs.runner import Attempt, Event

_STYLE = {"scored": "green", "unscored": "yellow", "infra_error": "red"}


@dataclass
class RunBoard:
    running: dict[str, tuple[str, float, float]] = field(default_factory=dict)
    finished: list[Attempt] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def update(self, event: Event) -> None:
        now = time.monotonic()
        if event.done is not None:
            self.running.pop(event.label, None)
            self.finished.append(event.done)
        elif event.tidy:  # a resumed ending, an abort out of attempts
            self.notes.append(str(event))
        else:
            started = self.running.get(event.label, (event.step, now, now))[1]
            self.running[event.label] = (event.step, started, now)

    def __rich__(self) -> RenderableType:
        now = time.monotonic()
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("session")
        table.add_column("step")
        table.add_column("time", justify="right")
        for label, (step, started, since) in sorted(self.running.items()):
            table.add_row(label, step, f"{now - started:.0f}s (step {now - since:.0f}s)")
        counts = {s: sum(1 for a in self.finished if a.status == s) for s in _STYLE}
        summary = Text.assemble(
            (f"{len(self.running)} running", "bold"), " · ",
            (f"{counts['scored']} scored", _STYLE["scored"]), " · ",
            (f"{counts['unscored']} unscored", _STYLE["unscored"]), " · ",
            (f"{counts['infra_error']} infrastructure failure(s)", _STYLE["infra_error"]),
        )  # fmt: skip
        recent = [
            Text(
                f"{a.label}: {a.status}" + (f" ({a.outcome})" if a.outcome else ""),
                _STYLE[a.status],
            )
            for a in self.finished[-5:]
        ]
        return Group(*[Text(n, "dim") for n in self.notes[-3:]], *recent, table, summary)
