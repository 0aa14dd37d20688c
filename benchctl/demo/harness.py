"""The demo's scripted harness: a stand-in for a coding agent, driven only by a session env file.

It reads nothing but the env snippet `benchctl apply` rendered for the session (base URL, key,
model alias, stream flag, turn budget, task prompt), and talks to the proxy through the official
OpenAI or Anthropic SDK, whichever the snippet's variables name, as the real SDK-script harnesses
do. Each turn sends the conversation so far, as an agent loop would; a refused or failed call ends
that turn and the loop goes on, with the SDK's own retries off so every attempt is one logged
request.

It is also the SDK-script profiles' default launch: `source` a session's env file, then
`python -m benchctl.demo.harness` works the session and prints what it saw.

Since nothing here edits code, its outcome is a stand-in: the task counts as solved when every
turn got an answer, partial when most did, failed otherwise. It depends only on what the proxy
returned, so the simulator's seed fixes it. The demo scores sessions with their task card's
verifier all the same: where this says solved, the task's oracle stands in for the agent's edits.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai

# What one turn keeps of the previous answer: enough for the next prompt to depend on it, short
# enough that the prompt (and the simulated cache) does not grow without bound.
_CONTEXT_CHARS = 240
_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class SessionRun:
    """What the harness saw of its turns; each turn is one request through the proxy."""

    turns: int
    answered: int
    failures: tuple[str, ...]

    @property
    def outcome(self) -> str:
        if self.answered == self.turns:
            return "success"
        return "partial" if self.answered * 2 >= self.turns else "failure"


def read_env_file(path: Path) -> dict[str, str]:
    """The ``export NAME=value`` lines of a session env file, unquoted as a shell would."""
    env: dict[str, str] = {}
    # The whole file at once: quoted values (task instructions) may span lines.
    for word in shlex.split(path.read_text(encoding="utf-8"), comments=True):
        name, sep, value = word.partition("=")
        if sep and name.isidentifier():
            env[name] = value
    return env


def run_session(env: Mapping[str, str]) -> SessionRun:
    """Work the task as the env describes, with whichever SDK its variables are for."""
    turns = int(env.get("BENCHCTL_MAX_TURNS", "1"))
    stream = env.get("BENCHCTL_STREAM", "true") == "true"
    ask = (
        _anthropic_caller(env, stream)
        if "ANTHROPIC_BASE_URL" in env
        else _openai_caller(env, stream)
    )
    # The session id makes each session's conversation its own, as a real checkout would.
    task = f"Session {env.get('BENCHCTL_SESSION_ID', '')}.\n{env.get('TASK_PROMPT', '')}"
    previous = ""
    answered = 0
    failures: list[str] = []
    for turn in range(1, turns + 1):
        prompt = f"{task}\n\nStep {turn} of {turns}.{_context(previous)}"
        try:
            previous = ask(prompt)
        except (openai.APIError, anthropic.APIError) as exc:
            failures.append(f"turn {turn}: {type(exc).__name__}")
            continue
        answered += 1
    return SessionRun(turns=turns, answered=answered, failures=tuple(failures))


def _context(previous: str) -> str:
    return f"\nYour last answer began: {previous[:_CONTEXT_CHARS]}" if previous else ""


def _openai_caller(env: Mapping[str, str], stream: bool) -> Callable[[str], str]:
    client = openai.OpenAI(
        base_url=env["OPENAI_BASE_URL"],
        api_key=env["OPENAI_API_KEY"],
        max_retries=0,
        timeout=_TIMEOUT_S,
    )
    model = env["BENCHCTL_MODEL"]

    def ask(prompt: str) -> str:
        messages: Any = [{"role": "user", "content": prompt}]
        if not stream:
            reply = client.chat.completions.create(model=model, messages=messages)
            return reply.choices[0].message.content or ""
        parts: list[str] = []
        chunks = client.chat.completions.create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
        return "".join(parts)

    return ask


def _anthropic_caller(env: Mapping[str, str], stream: bool) -> Callable[[str], str]:
    client = anthropic.Anthropic(
        base_url=env["ANTHROPIC_BASE_URL"],
        api_key=env["ANTHROPIC_API_KEY"],
        max_retries=0,
        timeout=_TIMEOUT_S,
    )
    model = env["BENCHCTL_MODEL"]
    max_tokens = int(env.get("BENCHCTL_MAX_TOKENS", "1024"))

    def ask(prompt: str) -> str:
        messages: Any = [{"role": "user", "content": prompt}]
        if not stream:
            reply = client.messages.create(model=model, max_tokens=max_tokens, messages=messages)
            return "".join(block.text for block in reply.content if block.type == "text")
        with client.messages.stream(
            model=model, max_tokens=max_tokens, messages=messages
        ) as events:
            return "".join(events.text_stream)

    return ask


def main(argv: list[str]) -> int:
    """Work the session described by this process's environment (a sourced session env file).

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
    run = run_session(env)
    print(f"{run.answered} of {run.turns} turns answered; outcome: {run.outcome}")
    for failure in run.failures:
        print(f"  {failure}", file=sys.stderr)
    return 0 if run.outcome == "success" else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
