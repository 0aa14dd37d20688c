"""The SDK script harness: a small coding agent over the official OpenAI or Anthropic SDK.

It reads only its environment (base URL, key, model alias, stream flag, turn budget, task
prompt: what a harness profile renders, or a sourced session env file) and works in the current
folder. It offers the model one tool, ``write_file(path, content)``, and loops: each turn sends
the conversation so far; the files the model writes are written (inside the folder only) and
reported back; an answer without a tool call ends the session. A refused or failed call counts as
a turn and the loop goes on, with the SDK's own retries off so every attempt is one logged
request.

It is the SDK-script profiles' default launch: `benchctl run` starts it in a fresh workspace,
and by hand `source .benchctl/sessions/<id>.env` then `python -m benchctl.demo.harness` works
the session in the current folder. What it achieved is the task verifier's to say; it prints
what it did, ending with ``requests sent: N``.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import openai

_TIMEOUT_S = 120.0
# The workspace listing in the first prompt, as agents show the model what it works on.
_LISTED_FILES = 50
TOOL_NAME = "write_file"
_TOOL_DESCRIPTION = "Write a whole file of the workspace (created if missing), by relative path."
_TOOL_PARAMETERS = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "description": "Path relative to the workspace."},
        "content": {"type": "string", "description": "The file's whole new content."},
    },
    "required": ["path", "content"],
}


@dataclass(frozen=True)
class Call:
    id: str
    path: str
    content: str


@dataclass(frozen=True)
class Reply:
    text: str
    calls: tuple[Call, ...] = ()


@dataclass
class SessionRun:
    """What the harness did: its requests, their failures, the files written, and whether the
    model ended the session (an answer without a tool call) within the turn budget."""

    requests: int = 0
    failures: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    finished: bool = False


def read_env_file(path: Path) -> dict[str, str]:
    """The ``export NAME=value`` lines of a session env file, unquoted as a shell would."""
    env: dict[str, str] = {}
    # The whole file at once: quoted values (task instructions) may span lines.
    for word in shlex.split(path.read_text(encoding="utf-8"), comments=True):
        name, sep, value = word.partition("=")
        if sep and name.isidentifier():
            env[name] = value
    return env


def run_session(env: Mapping[str, str], workspace: Path) -> SessionRun:
    """Work the task in ``workspace`` as the env describes, with the SDK its variables name."""
    turns = int(env.get("BENCHCTL_MAX_TURNS", "1"))
    stream = env.get("BENCHCTL_STREAM", "true") == "true"
    agent = (
        _AnthropicAgent(env, stream) if "ANTHROPIC_BASE_URL" in env else _OpenAIAgent(env, stream)
    )
    # The trial names the session's cell of the grid, so each session's conversation is its own
    # and the same from one run to the next.
    trial = env.get("BENCHCTL_TRIAL", "")
    agent.user(f"Trial {trial}.\n{env.get('TASK_PROMPT', '')}\n\n{_listing(workspace)}")
    run = SessionRun()
    while run.requests < turns:
        run.requests += 1
        try:
            reply = agent.ask()
        except (openai.APIError, anthropic.APIError) as exc:
            run.failures.append(f"request {run.requests}: {type(exc).__name__}")
            continue
        if not reply.calls:
            run.finished = True
            break
        results = [_write(workspace, call, run) for call in reply.calls]
        agent.answered(reply, results)
    return run


def _listing(workspace: Path) -> str:
    files = sorted(
        p.relative_to(workspace).as_posix()
        for p in workspace.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(workspace).parts
    )
    shown = "\n".join(f"- {name}" for name in files[:_LISTED_FILES])
    return f"Files in the workspace:\n{shown}" if files else "The workspace is empty."


def _write(workspace: Path, call: Call, run: SessionRun) -> str:
    root = workspace.resolve()
    target = (root / call.path).resolve()
    if not target.is_relative_to(root) or target == root:
        return f"refused: {call.path} is not a file inside the workspace"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(call.content, encoding="utf-8")
    run.written.append(call.path)
    return f"wrote {call.path} ({len(call.content)} characters)"


class _OpenAIAgent:
    def __init__(self, env: Mapping[str, str], stream: bool) -> None:
        self._client = openai.OpenAI(
            base_url=env["OPENAI_BASE_URL"], api_key=env["OPENAI_API_KEY"], max_retries=0,
            timeout=_TIMEOUT_S,
        )  # fmt: skip
        self._model = env["BENCHCTL_MODEL"]
        self._stream = stream
        self._messages: list[dict[str, Any]] = []
        self._tools: Any = [
            {
                "type": "function",
                "function": {
                    "name": TOOL_NAME, "description": _TOOL_DESCRIPTION,
                    "parameters": _TOOL_PARAMETERS,
                },
            }
        ]  # fmt: skip

    def user(self, text: str) -> None:
        self._messages.append({"role": "user", "content": text})

    def ask(self) -> Reply:
        messages: Any = self._messages
        if not self._stream:
            reply = self._client.chat.completions.create(
                model=self._model, messages=messages, tools=self._tools
            )
            message = reply.choices[0].message
            raw = [
                (c.id, c.function.arguments)
                for c in message.tool_calls or []
                if c.type == "function"
            ]
            return Reply(message.content or "", _calls(raw))
        text: list[str] = []
        calls: dict[int, list[str]] = {}
        chunks = self._client.chat.completions.create(
            model=self._model, messages=messages, tools=self._tools, stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip
        for chunk in chunks:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            if delta.content:
                text.append(delta.content)
            for tool in delta.tool_calls or []:
                entry = calls.setdefault(tool.index, ["", ""])
                entry[0] = tool.id or entry[0]
                if tool.function and tool.function.arguments:
                    entry[1] += tool.function.arguments
        return Reply("".join(text), _calls([(i, a) for i, a in calls.values()]))

    def answered(self, reply: Reply, results: list[str]) -> None:
        self._messages.append(
            {
                "role": "assistant", "content": reply.text or None,
                "tool_calls": [
                    {"id": c.id, "type": "function", "function": {
                        "name": TOOL_NAME,
                        "arguments": json.dumps({"path": c.path, "content": c.content})}}
                    for c in reply.calls
                ],
            }
        )  # fmt: skip
        for call, result in zip(reply.calls, results, strict=True):
            self._messages.append({"role": "tool", "tool_call_id": call.id, "content": result})


class _AnthropicAgent:
    def __init__(self, env: Mapping[str, str], stream: bool) -> None:
        self._client = anthropic.Anthropic(
            base_url=env["ANTHROPIC_BASE_URL"], api_key=env["ANTHROPIC_API_KEY"], max_retries=0,
            timeout=_TIMEOUT_S,
        )  # fmt: skip
        self._model = env["BENCHCTL_MODEL"]
        self._max_tokens = int(env.get("BENCHCTL_MAX_TOKENS", "4096"))
        self._stream = stream
        self._messages: list[dict[str, Any]] = []
        self._tools: Any = [
            {"name": TOOL_NAME, "description": _TOOL_DESCRIPTION, "input_schema": _TOOL_PARAMETERS}
        ]

    def user(self, text: str) -> None:
        self._messages.append({"role": "user", "content": text})

    def ask(self) -> Reply:
        messages: Any = self._messages
        arguments = {
            "model": self._model,
            "max_tokens": self._max_tokens,
            "messages": messages,
            "tools": self._tools,
        }
        if self._stream:
            with self._client.messages.stream(**arguments) as events:
                message = events.get_final_message()
        else:
            message = self._client.messages.create(**arguments)
        text = "".join(b.text for b in message.content if b.type == "text")
        raw = [(b.id, json.dumps(b.input)) for b in message.content if b.type == "tool_use"]
        return Reply(text, _calls(raw))

    def answered(self, reply: Reply, results: list[str]) -> None:
        content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
        content += [
            {
                "type": "tool_use",
                "id": c.id,
                "name": TOOL_NAME,
                "input": {"path": c.path, "content": c.content},
            }
            for c in reply.calls
        ]
        self._messages.append({"role": "assistant", "content": content})
        self._messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": c.id, "content": result}
                    for c, result in zip(reply.calls, results, strict=True)
                ],
            }
        )


def _calls(raw: list[tuple[Any, str]]) -> tuple[Call, ...]:
    """Tool calls with their JSON arguments read; malformed ones become a path the write
    refuses, so the model hears about it."""
    found = []
    for call_id, text in raw:
        try:
            arguments = json.loads(text or "{}")
        except ValueError:
            arguments = {}
        path = arguments.get("path") if isinstance(arguments, dict) else None
        content = arguments.get("content") if isinstance(arguments, dict) else None
        found.append(
            Call(
                str(call_id),
                path if isinstance(path, str) else "",
                content if isinstance(content, str) else "",
            )
        )
    return tuple(found)


def main(argv: list[str]) -> int:
    """Work the session described by this process's environment in the current folder.

    A first argument, when given, replaces TASK_PROMPT, as the profiles' launch line passes it.
    """
    env = dict(os.environ)
    if argv:
        env["TASK_PROMPT"] = argv[0]
    if "BENCHCTL_MODEL" not in env:
        print(
            "benchctl.demo.harness: no session in the environment; first run"
            " `source .benchctl/sessions/<id>.env` (written by `benchctl apply`).",
            file=sys.stderr,
        )
        return 2
    run = run_session(env, Path.cwd())
    for failure in run.failures:
        print(f"  {failure}")
    for path in run.written:
        print(f"wrote {path}")
    print("finished" if run.finished else "stopped at the turn budget")
    print(f"requests sent: {run.requests}")
    return 0 if run.finished else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
