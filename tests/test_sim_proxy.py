"""The simulator behind the real LiteLLM proxy: each harness protocol, streamed, keeps its usage.

The proxy's `openai/` route reaches the simulator's chat completions and responses, and turns
Anthropic messages into responses calls (harnesses.md); usage, cache reads included, must come
back to the client intact whichever way it went.
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx

from proxy_stack import ProxyStack

MODEL = "sdk-sim-fast"  # sim-fast: 70% of the prompt reported as cache reads
CACHED_FRACTION = 0.7


def stream(proxy: ProxyStack, path: str, body: dict[str, Any]) -> list[Any]:
    """The parsed ``data:`` of each server-sent event of a streamed call through the proxy."""
    with httpx.stream(
        "POST",
        f"{proxy.url}{path}",
        headers={"Authorization": f"Bearer {proxy.master_key}"},
        json={"model": MODEL, "stream": True, **body},
        timeout=60,
    ) as response:
        assert response.status_code == 200, response.read()
        return [
            data if data == "[DONE]" else json.loads(data)
            for line in response.iter_lines()
            if line.startswith("data:") and (data := line.removeprefix("data:").strip())
        ]


def prompt(words: str) -> list[dict[str, str]]:
    # A prompt of its own per test: the same prompt elsewhere in the run would shift its draw.
    return [{"role": "user", "content": f"sim proxy test: {words} " * 20}]


def test_chat_stream_usage_through_the_proxy(litellm_proxy: ProxyStack):
    # Aider's call: streaming with stream_options.include_usage.
    body = {"messages": prompt("chat usage"), "stream_options": {"include_usage": True}}
    *chunks, done = stream(litellm_proxy, "/v1/chat/completions", body)
    assert done == "[DONE]"
    text = "".join(choice["delta"].get("content") or "" for c in chunks for choice in c["choices"])
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens"] == len(text.split(" "))
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    assert cached == math.floor(usage["prompt_tokens"] * CACHED_FRACTION)


def test_responses_stream_usage_through_the_proxy(litellm_proxy: ProxyStack):
    # Codex's call: the responses API, streaming.
    body = {"input": prompt("responses usage")}
    # LiteLLM ends even this stream with `data: [DONE]`, which the responses API does not send.
    events = [e for e in stream(litellm_proxy, "/v1/responses", body) if e != "[DONE]"]
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] == "response.completed"
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    usage = events[-1]["response"]["usage"]
    assert usage["output_tokens"] == len(text.split(" "))
    cached = usage["input_tokens_details"]["cached_tokens"]
    assert cached == math.floor(usage["input_tokens"] * CACHED_FRACTION)


def test_messages_stream_usage_through_the_proxy(litellm_proxy: ProxyStack):
    # Claude Code's call: Anthropic messages, which the openai/ route sends upstream as responses.
    body = {"max_tokens": 4096, "messages": prompt("messages usage")}
    events = stream(litellm_proxy, "/v1/messages", body)
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    [final] = [e for e in events if e["type"] == "message_delta"]
    assert final["delta"]["stop_reason"] == "end_turn"
    assert final["usage"]["output_tokens"] == len(text.split(" "))
    usage = {**events[0]["message"]["usage"], **final["usage"]}
    whole_prompt = usage["input_tokens"] + usage["cache_read_input_tokens"]
    assert usage["cache_read_input_tokens"] == math.floor(whole_prompt * CACHED_FRACTION)
