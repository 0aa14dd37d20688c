"""Bodies and server-sent events of the three upstream protocols, built from an Outcome.

LiteLLM reaches an upstream through whichever of these its route and the client's endpoint
pick (see harnesses.md, "What LiteLLM sends upstream"):

    /v1/chat/completions   ChatCompletions   OpenAI chat: ``data:`` chunks, then ``[DONE]``
    /v1/responses          Responses         OpenAI responses: typed, numbered events
    /v1/messages           Messages          Anthropic messages: typed events

Pure: no clock and no I/O. Each streamed event says after how many generated tokens it is due,
and the server turns that into time.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from benchctl.sim.behaviour import Outcome

# A few tokens per event, as real providers stream, without one write per token.
TOKENS_PER_EVENT = 3


def tokens_per_event(speed: float) -> int:
    """Tokens per event at ``speed``: a sped-up simulation sends bigger events, not more of them.

    The event rate per stream then stays what real time would give, so a proxy in front does no
    more work per second than against a real provider, and a fast demo measures the models
    rather than the proxy's CPU.
    """
    return TOKENS_PER_EVENT * max(1, round(speed))


ApiErrorKind = Literal["rate_limit", "server_error", "unknown_model", "unknown_path", "bad_request"]
STATUS: dict[ApiErrorKind, int] = {
    "rate_limit": 429,
    "server_error": 500,
    "unknown_model": 404,
    "unknown_path": 404,
    "bad_request": 400,
}


@dataclass(frozen=True)
class ApiError:
    kind: ApiErrorKind
    message: str

    @property
    def status(self) -> int:
        return STATUS[self.kind]


@dataclass(frozen=True)
class Event:
    """One server-sent event, due once ``after_tokens`` output tokens have been generated."""

    after_tokens: int
    data: bytes


class WireProtocol(ABC):
    @abstractmethod
    def response(self, outcome: Outcome, model: str, created: int) -> dict[str, Any]:
        """The whole answer, for a request without ``stream``."""

    @abstractmethod
    def stream(
        self,
        outcome: Outcome,
        model: str,
        created: int,
        request: Mapping[str, Any],
        per_event: int = TOKENS_PER_EVENT,
    ) -> Iterator[Event]:
        """The answer as events, for a request with ``"stream": true``."""

    @abstractmethod
    def error(self, error: ApiError) -> dict[str, Any]:
        """The error body this protocol's clients parse."""


_OPENAI_ERRORS: dict[ApiErrorKind, tuple[str, str | None]] = {
    "rate_limit": ("rate_limit_error", "rate_limit_exceeded"),
    "server_error": ("server_error", "server_error"),
    "unknown_model": ("invalid_request_error", "model_not_found"),
    "unknown_path": ("invalid_request_error", "unknown_url"),
    "bad_request": ("invalid_request_error", None),
}
_ANTHROPIC_ERRORS: dict[ApiErrorKind, str] = {
    "rate_limit": "rate_limit_error",
    "server_error": "api_error",
    "unknown_model": "not_found_error",
    "unknown_path": "not_found_error",
    "bad_request": "invalid_request_error",
}


def openai_error(error: ApiError) -> dict[str, Any]:
    kind, code = _OPENAI_ERRORS[error.kind]
    return {"error": {"message": error.message, "type": kind, "param": None, "code": code}}


class _OpenAI(WireProtocol, ABC):
    def error(self, error: ApiError) -> dict[str, Any]:
        return openai_error(error)


class ChatCompletions(_OpenAI):
    def response(self, outcome: Outcome, model: str, created: int) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{outcome.request_id}",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": self._message(outcome),
                    "finish_reason": "tool_calls" if outcome.tool_calls else "stop",
                }
            ],
            "usage": self._usage(outcome),
        }

    @staticmethod
    def _message(outcome: Outcome) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": outcome.text or None}
        if outcome.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in outcome.tool_calls
            ]
        else:
            message["content"] = outcome.text
        return message

    def stream(
        self,
        outcome: Outcome,
        model: str,
        created: int,
        request: Mapping[str, Any],
        per_event: int = TOKENS_PER_EVENT,
    ) -> Iterator[Event]:
        head = {
            "id": f"chatcmpl-{outcome.request_id}",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return _data({**head, "choices": [choice]})

        yield Event(0, chunk({"role": "assistant", "content": ""}))
        if outcome.text:
            for after, piece in _pieces(outcome, per_event):
                yield Event(after, chunk({"content": piece}))
        done = outcome.output_tokens
        for index, call in enumerate(outcome.tool_calls):
            function = {"name": call.name, "arguments": call.arguments}
            tool = {"index": index, "id": call.id, "type": "function", "function": function}
            yield Event(done, chunk({"tool_calls": [tool]}))
        yield Event(done, chunk({}, "tool_calls" if outcome.tool_calls else "stop"))
        options = request.get("stream_options")
        if isinstance(options, Mapping) and options.get("include_usage") is True:
            yield Event(done, _data({**head, "choices": [], "usage": self._usage(outcome)}))
        yield Event(done, b"data: [DONE]\n\n")

    @staticmethod
    def _usage(outcome: Outcome) -> dict[str, Any]:
        return {
            "prompt_tokens": outcome.prompt_tokens,
            "completion_tokens": outcome.output_tokens,
            "total_tokens": outcome.prompt_tokens + outcome.output_tokens,
            "prompt_tokens_details": {"cached_tokens": outcome.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }


class Responses(_OpenAI):
    def response(self, outcome: Outcome, model: str, created: int) -> dict[str, Any]:
        return self._object(outcome, model, created, done=True)

    def stream(
        self,
        outcome: Outcome,
        model: str,
        created: int,
        request: Mapping[str, Any],
        per_event: int = TOKENS_PER_EVENT,
    ) -> Iterator[Event]:
        item_id = f"msg_{outcome.request_id}"
        place = {"item_id": item_id, "output_index": 0, "content_index": 0}
        started = self._object(outcome, model, created, done=False)
        final = self._object(outcome, model, created, done=True)
        done = outcome.output_tokens
        if outcome.tool_calls:
            events = [
                (0, "response.created", {"response": started}),
                (0, "response.in_progress", {"response": started}),
                *self._call_events(final["output"], done),
                (done, "response.completed", {"response": final}),
            ]
            for number, (after, kind, fields) in enumerate(events):
                yield Event(
                    after, _event(kind, {"type": kind, "sequence_number": number, **fields})
                )
            return
        [item] = final["output"]
        [part] = item["content"]
        events = [
            (0, "response.created", {"response": started}),
            (0, "response.in_progress", {"response": started}),
            (
                0,
                "response.output_item.added",
                {"output_index": 0, "item": {**item, "status": "in_progress", "content": []}},
            ),
            (0, "response.content_part.added", {**place, "part": {**part, "text": ""}}),
            *(
                (after, "response.output_text.delta", {**place, "delta": piece, "logprobs": []})
                for after, piece in _pieces(outcome, per_event)
            ),
            (done, "response.output_text.done", {**place, "text": outcome.text, "logprobs": []}),
            (done, "response.content_part.done", {**place, "part": part}),
            (done, "response.output_item.done", {"output_index": 0, "item": item}),
            (done, "response.completed", {"response": final}),
        ]
        for number, (after, kind, fields) in enumerate(events):
            yield Event(after, _event(kind, {"type": kind, "sequence_number": number, **fields}))

    @staticmethod
    def _call_events(
        items: list[dict[str, Any]], done: int
    ) -> Iterator[tuple[int, str, dict[str, Any]]]:
        for index, item in enumerate(items):
            pending = {**item, "arguments": "", "status": "in_progress"}
            yield done, "response.output_item.added", {"output_index": index, "item": pending}
            place = {"item_id": item["id"], "output_index": index}
            delta = {**place, "delta": item["arguments"]}
            yield done, "response.function_call_arguments.delta", delta
            arguments = {**place, "arguments": item["arguments"]}
            yield done, "response.function_call_arguments.done", arguments
            yield done, "response.output_item.done", {"output_index": index, "item": item}

    @staticmethod
    def _object(outcome: Outcome, model: str, created: int, *, done: bool) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "id": f"msg_{outcome.request_id}",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": outcome.text, "annotations": []}],
        }
        calls = [
            {
                "type": "function_call", "id": f"fc_{call.id}", "call_id": call.id,
                "name": call.name, "arguments": call.arguments, "status": "completed",
            }
            for call in outcome.tool_calls
        ]  # fmt: skip
        usage = {
            "input_tokens": outcome.prompt_tokens,
            "input_tokens_details": {"cached_tokens": outcome.cached_tokens},
            "output_tokens": outcome.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": outcome.prompt_tokens + outcome.output_tokens,
        }
        return {
            "id": f"resp_{outcome.request_id}",
            "object": "response",
            "created_at": created,
            "status": "completed" if done else "in_progress",
            "error": None,
            "incomplete_details": None,
            "model": model,
            "output": (calls or [message]) if done else [],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": usage if done else None,
        }


class Messages(WireProtocol):
    def response(self, outcome: Outcome, model: str, created: int) -> dict[str, Any]:
        return {
            **self._message(outcome, model),
            "content": [{"type": "text", "text": outcome.text}],
            "stop_reason": "end_turn",
            "usage": self._usage(outcome, outcome.output_tokens),
        }

    def stream(
        self,
        outcome: Outcome,
        model: str,
        created: int,
        request: Mapping[str, Any],
        per_event: int = TOKENS_PER_EVENT,
    ) -> Iterator[Event]:
        start = {
            **self._message(outcome, model),
            "content": [],
            "stop_reason": None,
            "usage": self._usage(outcome, 0),
        }
        done = outcome.output_tokens
        events: list[tuple[int, str, dict[str, Any]]] = [
            (0, "message_start", {"message": start}),
            (
                0,
                "content_block_start",
                {"index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            (0, "ping", {}),
            *(
                (
                    after,
                    "content_block_delta",
                    {"index": 0, "delta": {"type": "text_delta", "text": piece}},
                )
                for after, piece in _pieces(outcome, per_event)
            ),
            (done, "content_block_stop", {"index": 0}),
            (
                done,
                "message_delta",
                {
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": done},
                },
            ),
            (done, "message_stop", {}),
        ]
        for after, kind, fields in events:
            yield Event(after, _event(kind, {"type": kind, **fields}))

    def error(self, error: ApiError) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {"type": _ANTHROPIC_ERRORS[error.kind], "message": error.message},
        }

    @staticmethod
    def _message(outcome: Outcome, model: str) -> dict[str, Any]:
        return {
            "id": f"msg_{outcome.request_id}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "stop_sequence": None,
        }

    @staticmethod
    def _usage(outcome: Outcome, output_tokens: int) -> dict[str, int]:
        # Anthropic counts cache reads apart from input_tokens; OpenAI counts them inside.
        return {
            "input_tokens": outcome.prompt_tokens - outcome.cached_tokens,
            "output_tokens": output_tokens,
            "cache_read_input_tokens": outcome.cached_tokens,
            "cache_creation_input_tokens": 0,
        }


PROTOCOLS: dict[str, WireProtocol] = {
    "/v1/chat/completions": ChatCompletions(),
    "/v1/responses": Responses(),
    "/v1/messages": Messages(),
}


def _pieces(outcome: Outcome, per_event: int) -> Iterator[tuple[int, str]]:
    """The text in deltas of ``per_event`` tokens, each with the number generated before it."""
    words = outcome.text.split(" ")
    for start in range(0, len(words), per_event):
        piece = " ".join(words[start : start + per_event])
        yield start, piece if start == 0 else f" {piece}"


def _json(body: Mapping[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))


def _data(body: Mapping[str, Any]) -> bytes:
    return f"data: {_json(body)}\n\n".encode()


def _event(kind: str, body: Mapping[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {_json(body)}\n\n".encode()


def encode(body: Mapping[str, Any]) -> bytes:
    """A JSON body as sent on the wire."""
    return _json(body).encode()
