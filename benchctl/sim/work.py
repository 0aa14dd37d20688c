"""Real work from the simulated model: edits a harness applies to its workspace, so the task's
verifier measures something the model did.

For each task card with an oracle and a local workspace, the simulator knows the files the
oracle changes (``load_solutions`` runs it once on a scratch copy). A request whose prompt holds
a task's instructions, from a harness that can write files, gets either that solution (with the
model's ``solve_rate``, drawn like every other outcome) or a plausible wrong change — in the form
the request asks for: calls to a write tool the provider manifest declares (``edit_tools``), or a
text edit format whose phrase the prompt uses (``text_edits``, as Aider asks for SEARCH/REPLACE
blocks). Which tool names and phrases mean what is the manifest's business, not this module's.

Once the conversation holds the simulator's own edit (its tool-call ids and text carry a mark),
the model answers in plain words and the harness's turn ends.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchctl.manifests.models.provider import Simulator
from benchctl.sim.behaviour import CHARS_PER_TOKEN, PROMPT_FIELDS, Outcome, ToolCall, strings

# In every edit the simulator makes: a later request carrying it is past the editing turn.
MARK = "bcsim"
# Enough of the instructions to find them in a prompt that quotes them whole.
_MARKER_CHARS = 80
# What the model reads, tool definitions aside: where a task's instructions and an edit appear.
_TEXT_FIELDS = tuple(f for f in PROMPT_FIELDS if f != "tools")


@dataclass(frozen=True)
class Solution:
    """What a task's oracle changes: files' contents before and after (absent before: added)."""

    task: str
    marker: str
    before: Mapping[str, str]
    after: Mapping[str, str]

    def wrong(self) -> dict[str, str]:
        """A plausible change that solves nothing: the files it would touch, barely touched."""
        return {
            path: self.before.get(path, "") + f"\n# {MARK}: a first attempt, not finished\n"
            for path in self.after
        }


@dataclass(frozen=True)
class Work:
    """An editing answer: words, tool calls, or both."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()


def load_solutions(root: Path) -> tuple[list[Solution], list[str]]:
    """Each local task with an oracle, solved once in a scratch folder to see what changes;
    and why any could not be (its model then only talks on that task)."""
    from benchctl.manifests.loader import load_repository
    from benchctl.tasks.oracle import apply_oracle
    from benchctl.tasks.workspace import Task, prepare

    repository = load_repository(root).repository
    found, problems = [], []
    for name, loaded in sorted(repository.task_cards.items()):
        card = loaded.model
        if card.spec.oracle is None or card.spec.workspace is None:
            continue
        task = Task(card, root)
        with tempfile.TemporaryDirectory(prefix="benchctl-sim-") as scratch_name:
            scratch = Path(scratch_name)
            workspace = prepare(task, scratch / "workspace", sandbox=False)
            before = _text_files(workspace)
            done = apply_oracle(task, workspace, scratch, sandbox=False)
            if done.exit_code != 0:
                problems.append(
                    f"task {name}: its oracle failed (exit {done.exit_code}), so the simulator"
                    f" cannot learn its solution; `benchctl task check {name}` shows why."
                )
                continue
            after = _text_files(workspace)
        changed = {p: text for p, text in after.items() if before.get(p) != text}
        found.append(
            Solution(
                task=name,
                marker=card.spec.instructions.strip().splitlines()[0][:_MARKER_CHARS],
                before={p: before[p] for p in changed if p in before},
                after=changed,
            )
        )
    return found, problems


def _text_files(folder: Path) -> dict[str, str]:
    """The folder's text files by relative path (git's own files and symlinks aside)."""
    from benchctl.tasks.files import entries

    files = {}
    for relative, path in entries(folder):
        if ".git" in relative.split("/") or path.is_symlink():
            continue
        try:
            files[relative] = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
    return files


def prompt_text(body: Mapping[str, Any]) -> str:
    return "\n".join(strings([body[f] for f in _TEXT_FIELDS if f in body]))


def find_solution(body: Mapping[str, Any], solutions: Sequence[Solution]) -> Solution | None:
    """The task this request works on, unless it already holds the simulator's edit."""
    text = prompt_text(body)
    if MARK in text:
        return None
    return next((s for s in solutions if s.marker and s.marker in text), None)


def answer(
    body: Mapping[str, Any], solution: Solution, solved: bool, config: Simulator, request_id: str
) -> Work | None:
    """The edit in the form the request asks for; None when it offers no way to write."""
    edits = dict(solution.after) if solved else solution.wrong()
    offered = set(_tool_names(body.get("tools")))
    for tool in config.edit_tools:
        if tool.name in offered:
            calls = tuple(
                ToolCall(
                    id=f"call_{MARK}_{request_id[:12]}_{index}",
                    name=tool.name,
                    arguments=json.dumps({tool.path: path, tool.content: content}),
                )
                for index, (path, content) in enumerate(sorted(edits.items()))
            )
            return Work(text="", tool_calls=calls)
    text = prompt_text(body)
    for form in config.text_edits:
        if form.when in text:
            blocks = [
                _search_replace(path, solution.before.get(path, ""), content)
                if form.form == "search_replace"
                else f"{path}\n```\n{_line_end(content)}```\n"
                for path, content in sorted(edits.items())
            ]
            return Work(text=f"Here are the changes ({MARK}).\n\n" + "\n".join(blocks))
    return None


def _search_replace(path: str, before: str, after: str) -> str:
    return (
        f"{path}\n```\n<<<<<<< SEARCH\n{_line_end(before)}=======\n{_line_end(after)}"
        ">>>>>>> REPLACE\n```\n"
    )


def _line_end(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def _tool_names(tools: object) -> Iterator[str]:
    """Names of offered tools, in chat (`function.name`) or responses/messages (`name`) form."""
    if not isinstance(tools, list):
        return
    for tool in tools:
        if not isinstance(tool, Mapping):
            continue
        function = tool.get("function")
        name = function.get("name") if isinstance(function, Mapping) else tool.get("name")
        if isinstance(name, str):
            yield name


def solves(request_id: str, rate: float) -> bool:
    """Whether this attempt solves the task: a draw as fixed as the request's other outcomes."""
    digest = hashlib.sha256(f"{request_id}\0solve".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def with_work(outcome: Outcome, work: Work) -> Outcome:
    """``outcome`` answering with ``work``, its output tokens counted from the answer's size."""
    size = len(work.text) + sum(len(c.name) + len(c.arguments) for c in work.tool_calls)
    return replace(
        outcome,
        text=work.text,
        tool_calls=work.tool_calls,
        output_tokens=max(1, math.ceil(size / CHARS_PER_TOKEN)),
    )
