"""The simulated provider over real HTTP on loopback: the three protocols, timings, errors,
determinism, and `benchctl sim`."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from benchctl.manifests.models import Provider
from benchctl.sim import Prompt, SimServer, sample
from benchctl.sim.protocols import TOKENS_PER_EVENT, tokens_per_event

from conftest import REPO_ROOT
from minirepo import FILES, write_minirepo

SPEED = 10.0
HOLD_S = 0.3
# Fixed distributions (p95 == median) make timings and lengths exact.
STEADY = {
    "ttft_ms": {"median": 200, "p95": 200},
    "tokens_per_second": {"median": 100, "p95": 100},
    "output_tokens": {"median": 40, "p95": 40},
    "cached_prompt_fraction": 0.5,
}
SLOW = {
    **STEADY,
    "ttft_ms": {"median": 800, "p95": 800},
    "tokens_per_second": {"median": 25, "p95": 25},
}
VARIED = {
    "ttft_ms": {"median": 50, "p95": 150},
    "tokens_per_second": {"median": 200, "p95": 400},
    "output_tokens": {"median": 30, "p95": 120},
    "cached_prompt_fraction": 0.3,
    "errors": {"rate": 0.3, "kinds": ["rate_limit", "server_error"]},
}


def failing(kind: str) -> dict[str, Any]:
    return {**STEADY, "errors": {"rate": 1.0, "kinds": [kind]}}


def make_provider(seed: int = 7, **models: dict[str, Any]) -> Provider:
    return Provider.model_validate(
        {
            "apiVersion": "benchctl/v1",
            "kind": "Provider",
            "metadata": {"name": "test-sim"},
            "spec": {
                "route": "openai/",
                "api_base": "http://127.0.0.1:8799/v1",
                "simulator": {"seed": seed},
                "models": {
                    name: {
                        "context_window": 100000,
                        "prices": {"input": 1, "output": 2},
                        "simulate": s,
                    }
                    for name, s in models.items()
                },
            },
        }
    )


PROVIDER = make_provider(
    steady=STEADY,
    slow=SLOW,
    varied=VARIED,
    limited=failing("rate_limit"),
    broken=failing("server_error"),
    hanging=failing("timeout"),
)


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    with SimServer(PROVIDER, speed=SPEED, timeout_hold_s=HOLD_S) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: SimServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.url, api_key="any", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def http(server: SimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def sse(response: httpx.Response) -> list[tuple[str | None, str]]:
    """(event type or None, data) of each server-sent event."""
    events, kind = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((kind, line.removeprefix("data: ")))
            kind = None
    return events


PROMPT = "Refactor the parser so that errors carry their line numbers. " * 8
# A token per 4 characters of the prompt's text ("user" included), rounded up.
PROMPT_TOKENS = math.ceil((len("user") + len(PROMPT)) / 4)
# Events carrying the 40 words of a steady answer, at the tests' speed.
DELTAS = math.ceil(40 / tokens_per_event(SPEED))


# --- chat completions ---------------------------------------------------------------------


def test_chat_completion_with_usage(client: openai.OpenAI):
    raw = client.chat.completions.with_raw_response.create(model="steady", messages=user(PROMPT))
    reply = raw.parse()
    assert reply.id.startswith("chatcmpl-") and reply.model == "steady"
    assert raw.headers["x-request-id"] in reply.id
    [choice] = reply.choices
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert len((choice.message.content or "").split(" ")) == 40
    usage = reply.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (PROMPT_TOKENS, 40)
    assert usage.total_tokens == PROMPT_TOKENS + 40
    assert (
        usage.prompt_tokens_details
        and usage.prompt_tokens_details.cached_tokens == PROMPT_TOKENS // 2
    )
    assert usage.completion_tokens_details and usage.completion_tokens_details.reasoning_tokens == 0


def test_chat_stream_ends_with_usage_chunk_then_done(http: httpx.Client):
    body = {
        "model": "steady",
        "messages": user(PROMPT),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with http.stream("POST", "/chat/completions", json=body) as response:
        assert response.headers["content-type"] == "text/event-stream"
        events = [data for _, data in sse(response)]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(data) for data in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[1:-1])
    assert len(text.split(" ")) == 40
    assert len(chunks) == 1 + DELTAS + 1 + 1
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 40
    assert chunks[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": PROMPT_TOKENS // 2}
    assert all("usage" not in c for c in chunks[:-1])


def test_chat_stream_through_sdk_without_usage(client: openai.OpenAI):
    chunks = list(client.chat.completions.create(model="steady", messages=user("hi"), stream=True))
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


# --- responses ----------------------------------------------------------------------------


def test_response_with_usage(client: openai.OpenAI):
    reply = client.responses.create(model="steady", input=PROMPT)
    assert reply.id.startswith("resp_") and reply.status == "completed"
    assert reply.output[0].type == "message"
    assert len(reply.output_text.split(" ")) == 40
    assert reply.usage is not None
    input_tokens = math.ceil(len(PROMPT) / 4)
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (input_tokens, 40)
    assert reply.usage.input_tokens_details.cached_tokens == reply.usage.input_tokens // 2
    assert reply.usage.total_tokens == reply.usage.input_tokens + 40


def test_response_stream_event_sequence(client: openai.OpenAI, http: httpx.Client):
    with client.responses.stream(model="steady", input=PROMPT) as stream:
        final = stream.get_final_response()
    assert final.usage is not None and final.usage.output_tokens == 40
    assert len(final.output_text.split(" ")) == 40

    with http.stream(
        "POST", "/responses", json={"model": "steady", "input": "hi", "stream": True}
    ) as r:
        events = sse(r)
    bodies = [json.loads(data) for _, data in events]
    assert [kind for kind, _ in events] == [b["type"] for b in bodies]
    assert [b["sequence_number"] for b in bodies] == list(range(len(bodies)))
    assert [b["type"] for b in bodies] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * DELTAS,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    text = "".join(b["delta"] for b in bodies if b["type"] == "response.output_text.delta")
    assert bodies[-4]["text"] == text
    assert bodies[0]["response"]["usage"] is None
    assert bodies[-1]["response"]["usage"]["output_tokens"] == 40


# --- messages -----------------------------------------------------------------------------


def test_message_with_usage(http: httpx.Client):
    body = {"model": "steady", "max_tokens": 1000, "system": "Be brief.", "messages": user(PROMPT)}
    reply = http.post("/messages", json=body, headers={"x-api-key": "any"}).json()
    prompt = math.ceil(len("Be brief." + "user" + PROMPT) / 4)  # system text counts too
    assert reply["id"].startswith("msg_") and reply["type"] == "message"
    assert reply["role"] == "assistant" and reply["stop_reason"] == "end_turn"
    assert len(reply["content"][0]["text"].split(" ")) == 40
    # Anthropic reports cache reads apart from input_tokens.
    assert reply["usage"] == {
        "input_tokens": prompt - prompt // 2,
        "output_tokens": 40,
        "cache_read_input_tokens": prompt // 2,
        "cache_creation_input_tokens": 0,
    }


def test_message_stream_event_sequence(http: httpx.Client):
    body = {"model": "steady", "max_tokens": 1000, "messages": user(PROMPT), "stream": True}
    with http.stream("POST", "/messages", json=body) as r:
        events = sse(r)
    bodies = [json.loads(data) for _, data in events]
    assert [kind for kind, _ in events] == [b["type"] for b in bodies]
    assert [b["type"] for b in bodies] == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * DELTAS,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    text = "".join(b["delta"]["text"] for b in bodies if b["type"] == "content_block_delta")
    assert len(text.split(" ")) == 40
    assert bodies[0]["message"]["usage"]["cache_read_input_tokens"] == PROMPT_TOKENS // 2
    assert bodies[-2]["delta"]["stop_reason"] == "end_turn"
    assert bodies[-2]["usage"] == {"output_tokens": 40}


@pytest.mark.parametrize(
    ("path", "field", "extra"),
    [
        ("/chat/completions", "max_tokens", {"messages": user("hi")}),
        ("/chat/completions", "max_completion_tokens", {"messages": user("hi")}),
        ("/responses", "max_output_tokens", {"input": "hi"}),
        ("/messages", "max_tokens", {"messages": user("hi")}),
    ],
)
def test_max_tokens_caps_the_answer(http: httpx.Client, path: str, field: str, extra: dict):
    reply = http.post(path, json={"model": "steady", field: 7, **extra}).json()
    usage = reply["usage"]
    assert usage.get("completion_tokens", usage.get("output_tokens")) == 7


# --- errors -------------------------------------------------------------------------------


def test_rate_limit_is_429_with_retry_after(client: openai.OpenAI, http: httpx.Client):
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="limited", messages=user("hi"))
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "1"
    body = caught.value.body
    assert isinstance(body, dict) and body["message"]
    assert (body["type"], body["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="limited", input="hi")
    anthropic = http.post("/messages", json={"model": "limited", "messages": user("hi")})
    assert anthropic.status_code == 429 and anthropic.headers["retry-after"] == "1"
    assert anthropic.json()["type"] == "error"
    assert anthropic.json()["error"]["type"] == "rate_limit_error"


def test_server_error_is_500(client: openai.OpenAI, http: httpx.Client):
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="broken", messages=user("hi"), stream=True)
    assert caught.value.status_code == 500
    anthropic = http.post("/messages", json={"model": "broken", "messages": user("hi")})
    assert anthropic.status_code == 500 and anthropic.json()["error"]["type"] == "api_error"
    assert anthropic.headers["x-request-id"]


def test_timeout_holds_until_the_client_gives_up(server: SimServer):
    body = {"model": "hanging", "messages": user("hi")}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.url}/chat/completions", json=body, timeout=HOLD_S / 3)
    # Past timeout_hold_s the server drops the connection without an answer.
    started = time.monotonic()
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{server.url}/chat/completions", json=body, timeout=10)
    assert HOLD_S <= time.monotonic() - started < HOLD_S + 2


def test_stop_ends_held_requests():
    provider = make_provider(hanging=failing("timeout"))
    errors: list[Exception] = []
    with SimServer(provider, timeout_hold_s=600) as held:

        def call() -> None:
            try:
                httpx.post(f"{held.url}/responses", json={"model": "hanging"}, timeout=30)
            except httpx.HTTPError as exc:
                errors.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.2)
        started = time.monotonic()
    caller.join(5)
    assert time.monotonic() - started < 2
    assert not caller.is_alive() and len(errors) == 1


def test_error_rate_follows_the_manifest():
    spec = PROVIDER.spec.models["varied"]
    outcomes = [
        sample(seed=1, model="varied", spec=spec, prompt=Prompt.of({"input": str(i)}), occurrence=0)
        for i in range(3000)
    ]
    kinds = [o.error_kind for o in outcomes]
    assert 0.27 < sum(k is not None for k in kinds) / len(kinds) < 0.33
    assert {k for k in kinds if k} == {"rate_limit", "server_error"}


def test_draws_fit_median_and_p95():
    spec = PROVIDER.spec.models["varied"]
    outcomes = [
        sample(seed=3, model="varied", spec=spec, prompt=Prompt.of({"input": "same"}), occurrence=n)
        for n in range(4000)
    ]
    lengths = sorted(o.output_tokens for o in outcomes)
    assert 27 <= statistics.median(lengths) <= 33
    assert 105 <= lengths[int(0.95 * len(lengths))] <= 135
    ttfts = sorted(o.ttft_s for o in outcomes)
    assert 0.045 < statistics.median(ttfts) < 0.055


# --- unknown models, bad requests, listings -----------------------------------------------


def test_unknown_model_is_404_naming_the_known_ones(client: openai.OpenAI):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-5", messages=user("hi"))
    message = str(caught.value)
    assert "'gpt-5'" in message and "steady" in message and "hanging" in message
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "model_not_found"


def test_bad_json_is_400(http: httpx.Client):
    for body in (b"{not json", b"[1, 2]", b'{"messages": []}'):
        reply = http.post("/chat/completions", content=body)
        assert reply.status_code == 400
        assert reply.json()["error"]["type"] == "invalid_request_error"
        assert reply.headers["x-request-id"]
    assert http.post("/messages", content=b"{").json()["error"]["type"] == "invalid_request_error"


def test_listings_health_and_unknown_paths(http: httpx.Client, server: SimServer):
    models = http.get("/models").json()
    assert [m["id"] for m in models["data"]] == list(PROVIDER.spec.models)
    health = httpx.get(server.url.removesuffix("/v1") + "/health")
    assert health.json() == {"status": "ok"} and health.headers["x-request-id"]
    assert http.post("/completions", json={"model": "steady"}).status_code == 404


# --- timings ------------------------------------------------------------------------------


def first_token_and_end(http: httpx.Client, model: str) -> tuple[float, float]:
    body = {"model": model, "messages": user("time me"), "stream": True}
    started = time.monotonic()
    first = None
    with http.stream("POST", "/chat/completions", json=body) as r:
        for line in r.iter_lines():
            if first is None and line.startswith("data: "):
                first = time.monotonic() - started
    assert first is not None
    return first, time.monotonic() - started


def test_ttft_and_throughput_as_configured(http: httpx.Client):
    fast_ttft, fast_total = first_token_and_end(http, "steady")
    slow_ttft, slow_total = first_token_and_end(http, "slow")
    # Never sooner than configured; well ordered; no wild overshoot.
    assert 0.2 / SPEED <= fast_ttft < slow_ttft
    assert 0.8 / SPEED <= slow_ttft < 0.8 / SPEED + 0.5
    fast_stream, slow_stream = fast_total - fast_ttft, slow_total - slow_ttft
    assert fast_stream < slow_stream < 40 / 25 / SPEED + 0.5
    # Lower bounds on the whole answer: on a loaded machine the client may read the first
    # token late, which shortens the stream as measured but never the total.
    assert fast_total >= (0.2 + 40 / 100 * 0.9) / SPEED
    assert slow_total >= (0.8 + 40 / 25 * 0.9) / SPEED

    started = time.monotonic()
    http.post("/responses", json={"model": "slow", "input": "whole"})
    assert time.monotonic() - started >= (0.8 + 40 / 25) / SPEED


def test_speed_changes_timings_not_usage():
    body = {"model": "varied", "input": "same question"}
    results = []
    for speed in (5.0, 50.0):
        with SimServer(PROVIDER, speed=speed) as s, httpx.Client(base_url=s.url) as c:
            started = time.monotonic()
            replies = [c.post("/responses", json=body) for _ in range(6)]
            elapsed = time.monotonic() - started
        outcomes = [
            (r.status_code, r.headers["x-request-id"], r.json().get("usage")) for r in replies
        ]
        results.append((outcomes, elapsed))
    (slow, slow_elapsed), (fast, fast_elapsed) = results
    assert slow == fast
    assert fast_elapsed < slow_elapsed


def test_speed_makes_events_bigger_not_more_frequent():
    """The same answer at any speed; the event count shrinks with speed, so the events per
    second of wall-clock time stay what real time would give."""
    body = {"model": "steady", "messages": user(PROMPT), "stream": True}
    texts, counts = [], []
    for speed in (1.0, 20.0):
        with (
            SimServer(PROVIDER, speed=speed) as s,
            httpx.Client(base_url=s.url) as c,
            c.stream("POST", "/chat/completions", json=body) as response,
        ):
            chunks = [json.loads(d) for _, d in sse(response) if d != "[DONE]"]
        deltas = [c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]]
        texts.append("".join(deltas))
        counts.append(sum(1 for d in deltas if d))
    assert texts[0] == texts[1]
    assert counts == [math.ceil(40 / TOKENS_PER_EVENT), math.ceil(40 / (TOKENS_PER_EVENT * 20))]


def read_response(conn: socket.socket) -> bytes:
    """One HTTP/1.1 response, sized by content-length or chunked encoding."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += conn.recv(65536)
    head, body = received.split(b"\r\n\r\n", 1)
    length = re.search(rb"content-length: (\d+)", head, re.I)
    while not (len(body) == int(length[1]) if length else body.endswith(b"0\r\n\r\n")):
        chunk = conn.recv(65536)
        assert chunk, "the server closed a keep-alive connection"
        body += chunk
    return head


def test_keep_alive_without_nagle_delay():
    with SimServer(PROVIDER, speed=1e6) as fast, httpx.Client(base_url=fast.url) as c:
        started = time.monotonic()
        for i in range(10):
            body = {"model": "steady", "stream": True, "messages": user(str(i))}
            with c.stream("POST", "/chat/completions", json=body) as r:
                r.read()
        # With Nagle's algorithm on, each request would wait ~40 ms for a delayed ACK.
        assert (time.monotonic() - started) / 10 < 0.02

        with socket.create_connection(("127.0.0.1", fast.port)) as conn:
            for stream in (True, False, True):
                payload = json.dumps({"model": "steady", "stream": stream}).encode()
                conn.sendall(
                    b"POST /v1/responses HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s"
                    % (len(payload), payload)
                )
                assert read_response(conn).startswith(b"HTTP/1.1 200")


# --- determinism --------------------------------------------------------------------------


def replay(seed: int | None, prompts: list[str]) -> dict[tuple[str, int], tuple[Any, ...]]:
    """Outcome of each (prompt, occurrence) when sending ``prompts`` in order."""
    seen: dict[str, int] = {}
    results = {}
    with SimServer(PROVIDER, seed=seed, speed=100) as s, httpx.Client(base_url=s.url) as c:
        for prompt in prompts:
            r = c.post("/chat/completions", json={"model": "varied", "messages": user(prompt)})
            n = seen[prompt] = seen.get(prompt, -1) + 1
            usage = r.json().get("usage") if r.status_code == 200 else None
            results[prompt, n] = (r.status_code, r.headers["x-request-id"], usage)
    return results


def test_same_seed_and_requests_give_same_outcomes():
    prompts = ["alpha", "beta", "alpha", "gamma", "alpha", "beta"] * 3
    first = replay(None, prompts)
    assert replay(None, prompts) == first
    # Interleaving across prompts does not matter; the order per prompt does.
    assert replay(None, sorted(prompts)) == first
    assert len({json.dumps(usage) for _, _, usage in first.values() if usage}) > 3
    assert {status for status, _, _ in first.values()} == {200, 429, 500}
    assert replay(7, prompts) == first  # the provider's simulator.seed
    assert replay(8, prompts) != first


def test_concurrent_requests_get_their_sequential_outcomes(server: SimServer):
    prompts = [f"task {i}" for i in range(12)]
    expected = replay(None, prompts)
    with SimServer(PROVIDER, speed=100) as s:
        results: dict[str, Any] = {}

        def call(prompt: str) -> None:
            r = httpx.post(
                f"{s.url}/chat/completions", json={"model": "varied", "messages": user(prompt)}
            )
            results[prompt] = r.headers["x-request-id"]

        threads = [threading.Thread(target=call, args=(p,)) for p in reversed(prompts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == {p: expected[p, 0][1] for p in prompts}


# --- benchctl sim -------------------------------------------------------------------------


def test_cli_serves_until_sigterm():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchctl",
            "sim",
            "--root",
            str(REPO_ROOT),
            "--port",
            "0",
            "--speed",
            "50",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        url = line.split(" listening on ")[1].split(" ")[0]
        assert line == f"sim provider 'sim' listening on {url} (4 models, seed 1729)"
        reply = httpx.post(
            f"{url}/chat/completions", json={"model": "sim-fast", "messages": user("hi")}
        )
        assert reply.status_code in (200, 500)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        process.kill()


def test_cli_unknown_provider(run_cli, tmp_path: Path):
    write_minirepo(tmp_path)
    result = run_cli("sim", "--root", str(tmp_path), "--provider", "openai")
    assert result.exit_code == 2
    assert (
        "no provider 'openai'" in result.output
        and "Simulated providers there: sim" in result.output
    )
    empty = run_cli("sim", "--root", str(tmp_path / "nowhere"))
    assert empty.exit_code == 2 and "pass --root" in empty.output


def test_cli_provider_without_simulation(run_cli, tmp_path: Path):
    real = (
        FILES["providers/sim.yaml"]
        .replace("name: sim}", "name: real}")
        .replace("  simulator: {seed: 1}\n", "")
        .split("      simulate:")[0]
    )
    write_minirepo(tmp_path, providers__real=real)
    result = run_cli("sim", "--root", str(tmp_path), "--provider", "real")
    assert result.exit_code == 2 and "provider 'real' is not simulated" in result.output


def test_cli_invalid_provider_manifest(run_cli, tmp_path: Path):
    write_minirepo(
        tmp_path, providers__sim=FILES["providers/sim.yaml"].replace("p95: 300", "p95: 3")
    )
    result = run_cli("sim", "--root", str(tmp_path))
    assert result.exit_code == 2 and "benchctl validate" in result.output


def test_cli_port_in_use_and_bad_speed(run_cli, tmp_path: Path):
    write_minirepo(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run_cli("sim", "--root", str(tmp_path), "--port", port)
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.output
    result = run_cli("sim", "--root", str(tmp_path), "--port", "0", "--speed", "0")
    assert result.exit_code == 2 and "speed must be a positive number" in result.output
