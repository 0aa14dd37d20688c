"""The simulated provider's HTTP server: standard library only, HTTP/1.1 keep-alive, loopback.

    POST /v1/chat/completions   OpenAI chat completions, streaming or not
    POST /v1/responses          OpenAI responses, streaming or not
    POST /v1/messages           Anthropic messages, streaming or not
    GET  /v1/models             the simulated models
    GET  /health                {"status": "ok"}

No credential is checked. Each request's outcome comes from ``behaviour.sample``; the server
only keeps the per-(model, prompt) occurrence counters and turns the outcome's timings into
sleeps, divided by ``speed``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import socket
import socketserver
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from benchctl.errors import UsageError
from benchctl.manifests.models.provider import Provider, ProviderModel
from benchctl.sim.behaviour import Outcome, Prompt, sample
from benchctl.sim.protocols import (
    PROTOCOLS,
    ApiError,
    WireProtocol,
    encode,
    openai_error,
    tokens_per_event,
)
from benchctl.sim.work import Solution, answer, find_solution, solves, with_work

# How often a waiting request looks whether its client hung up or the server is stopping,
# and how long stop() may wait for the accept loop to notice.
_POLL_S = 0.1
_ACCEPT_POLL_S = 0.05
# Told to rate-limited clients: short, so retries are exercised without stalling a benchmark.
RETRY_AFTER_S = 1


class SimServer:
    """Serve a simulated Provider on ``host:port`` (0: any free port), bound on construction.

    ``seed`` overrides the provider's ``simulator.seed``; ``speed`` divides every simulated
    delay (usage figures stay the same); a request drawn to time out is held, unanswered, for
    ``timeout_hold_s`` wall-clock seconds (not divided by ``speed``) or until its client leaves.
    """

    def __init__(
        self,
        provider: Provider,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        speed: float = 1.0,
        timeout_hold_s: float = 600.0,
        solutions: Sequence[Solution] = (),
    ) -> None:
        name = provider.metadata.name
        simulator = provider.spec.simulator
        self.models: dict[str, ProviderModel] = {
            model_id: model
            for model_id, model in provider.spec.models.items()
            if model.simulate is not None
        }
        if simulator is None or not self.models:
            raise UsageError(
                f"provider {name!r} is not simulated: give it `simulator:` and a `simulate:`"
                " block per model (see providers/sim.yaml), or pick a provider that has them."
            )
        if not (math.isfinite(speed) and speed > 0):
            raise UsageError(f"speed must be a positive number, not {speed}; 1 is real time.")
        self.provider_name = name
        self.simulator = simulator
        self.solutions = tuple(solutions)
        self.seed = simulator.seed if seed is None else seed
        self.speed = speed
        self.timeout_hold_s = timeout_hold_s
        self.stopping = threading.Event()
        self._occurrences: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._serving = False
        self._thread: threading.Thread | None = None
        try:
            self._httpd = _HTTPServer((host, port), self)
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}. If another simulator"
                " holds the port, stop it or choose another port."
            ) from None

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL including ``/v1``, as a provider's ``api_base`` names it."""
        return f"http://{self.host}:{self.port}/v1"

    def draw(self, model: str, prompt: Prompt) -> Outcome:
        """The next outcome for ``prompt`` to ``model``, counting it as one more occurrence."""
        key = (model, prompt.key)
        with self._lock:
            occurrence = self._occurrences.get(key, 0)
            self._occurrences[key] = occurrence + 1
        return sample(
            seed=self.seed,
            model=model,
            spec=self.models[model],
            prompt=prompt,
            occurrence=occurrence,
        )

    def work(self, model: str, body: Mapping[str, Any], outcome: Outcome) -> Outcome:
        """``outcome``, answering with an edit when the request works on a known task and the
        model works on tasks (``solve_rate``); see benchctl.sim.work."""
        simulate = self.models[model].simulate
        rate = simulate.solve_rate if simulate is not None else None
        if rate is None or not self.solutions:
            return outcome
        solution = find_solution(body, self.solutions)
        if solution is None:
            return outcome
        solved = solves(outcome.request_id, rate)
        done = answer(body, solution, solved, self.simulator, outcome.request_id)
        return outcome if done is None else with_work(outcome, done)

    def start(self) -> SimServer:
        """Serve in a background daemon thread."""
        # Set before the thread runs, so that an immediate stop() still waits for it.
        self._serving = True
        self._thread = threading.Thread(
            target=self.serve_forever, name=f"sim-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until ``stop()`` (from another thread) or an exception."""
        self._serving = True
        self._httpd.serve_forever(poll_interval=_ACCEPT_POLL_S)

    def stop(self) -> None:
        """Stop serving, end held and streaming requests, close every connection."""
        self.stopping.set()
        if self._serving:
            self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> SimServer:
        return self if self._serving else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _HTTPServer(ThreadingHTTPServer):
    # Many sessions' harnesses may connect at once through the proxy; the default backlog is 5.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sim: SimServer) -> None:
        self.sim = sim
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, a DNS query that can stall start-up.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        with self._connections_lock:
            self._connections.add(connection)
        return connection, address

    def shutdown_request(self, request: socket.socket | tuple[bytes, socket.socket]) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every handler blocked on its client, so none outlives the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: without it, a small write after the headers waits for the client's delayed
    # ACK, about 40 ms per keep-alive request and per streamed event.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a benchmark sends thousands of requests, and LiteLLM logs them already."""

    def do_GET(self) -> None:
        sim = self.server.sim
        path = urlsplit(self.path).path.rstrip("/")
        request_id = self._request_id(b"")
        try:
            if path == "/health":
                self._send_json(200, {"status": "ok"}, request_id)
            elif path == "/v1/models":
                data = [
                    {"id": model, "object": "model", "created": 0, "owned_by": sim.provider_name}
                    for model in sim.models
                ]
                self._send_json(200, {"object": "list", "data": data}, request_id)
            else:
                self._unknown_path(path, request_id)
        except ConnectionError:
            self.close_connection = True

    def do_POST(self) -> None:
        try:
            self._post()
        except ConnectionError:
            self.close_connection = True

    def _post(self) -> None:
        started = time.monotonic()
        path = urlsplit(self.path).path.rstrip("/")
        raw = self._read_body()
        request_id = self._request_id(raw or b"")
        if raw is None:
            # The unread body would be taken for the next request.
            self.close_connection = True
        api = PROTOCOLS.get(path)
        if api is None:
            self._unknown_path(path, request_id)
            return
        if raw is None:
            message = "Send the request body with a Content-Length header."
            self._send_error(api, ApiError("bad_request", message), request_id)
            return
        try:
            body = json.loads(raw)
        except ValueError as exc:
            message = f"The request body is not valid JSON: {exc}."
            self._send_error(api, ApiError("bad_request", message), request_id)
            return
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str):
            message = "The request body must be a JSON object with a string `model`."
            self._send_error(api, ApiError("bad_request", message), request_id)
            return
        sim = self.server.sim
        if model not in sim.models:
            message = (
                f"The model {model!r} does not exist on simulated provider"
                f" {sim.provider_name!r}; it serves {', '.join(sim.models)}."
            )
            self._send_error(api, ApiError("unknown_model", message), request_id)
            return
        outcome = sim.draw(model, Prompt.of(body))
        if outcome.error_kind is None:
            outcome = sim.work(model, body, outcome)
        if outcome.error_kind == "timeout":
            # Never answer: the client's own timeout is what is being simulated.
            self._pause(sim.timeout_hold_s)
            self.close_connection = True
        elif outcome.error_kind == "rate_limit":
            message = f"Rate limit reached for {model} (simulated); retry after {RETRY_AFTER_S} s."
            self._send_error(
                api,
                ApiError("rate_limit", message),
                outcome.request_id,
                [("retry-after", str(RETRY_AFTER_S))],
            )
        elif outcome.error_kind == "server_error":
            message = f"The simulated {model} failed while processing the request (injected)."
            self._send_error(api, ApiError("server_error", message), outcome.request_id)
        elif body.get("stream") is True:
            self._stream(api, model, outcome, body, started)
        else:
            finish = started + (outcome.ttft_s + outcome.generation_s) / sim.speed
            if self._pause(finish - time.monotonic()):
                self._send_json(
                    200, api.response(outcome, model, int(time.time())), outcome.request_id
                )
            else:
                self.close_connection = True

    def _stream(
        self,
        api: WireProtocol,
        model: str,
        outcome: Outcome,
        body: Mapping[str, Any],
        started: float,
    ) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-request-id", outcome.request_id)
        self.end_headers()
        speed = self.server.sim.speed
        per_event = tokens_per_event(speed)
        for event in api.stream(outcome, model, int(time.time()), body, per_event):
            due = started + (outcome.ttft_s + event.after_tokens / outcome.tps) / speed
            if not self._pause(due - time.monotonic()):
                # Leave the chunked body unterminated: the client must see a broken stream.
                self.close_connection = True
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event.data), event.data))
        self.wfile.write(b"0\r\n\r\n")

    def _pause(self, seconds: float) -> bool:
        """Wait ``seconds``; False if the client hung up or the server is stopping meanwhile."""
        stopping = self.server.sim.stopping
        deadline = time.monotonic() + seconds
        connection = self.connection
        try:
            while (remaining := deadline - time.monotonic()) > 0 and not stopping.is_set():
                connection.settimeout(min(remaining, _POLL_S))
                try:
                    if not connection.recv(1, socket.MSG_PEEK):
                        return False
                except TimeoutError:
                    continue
                # The client already sent its next request: hang-ups are no longer visible.
                return not stopping.wait(max(0.0, deadline - time.monotonic()))
        except OSError:
            return False
        finally:
            with contextlib.suppress(OSError):
                connection.settimeout(None)
        return not stopping.is_set()

    def _read_body(self) -> bytes | None:
        """The request body, or None when its length is not given (nothing is read then)."""
        length = self.headers.get("content-length")
        if length is None:
            return None if self.headers.get("transfer-encoding") else b""
        try:
            size = int(length)
        except ValueError:
            return None
        return self.rfile.read(size) if size > 0 else b""

    def _request_id(self, raw: bytes) -> str:
        """A deterministic id for answers that draw no outcome (errors, listings)."""
        seed = self.server.sim.seed
        digest = hashlib.sha256(b"%d\0%s\0%s\0" % (seed, self.command.encode(), self.path.encode()))
        digest.update(raw)
        return digest.hexdigest()[:24]

    def _unknown_path(self, path: str, request_id: str) -> None:
        known = ", ".join(["/health", "/v1/models", *PROTOCOLS])
        message = f"{self.command} {path} is not served by the simulator; it serves {known}."
        self._send_json(404, openai_error(ApiError("unknown_path", message)), request_id)

    def _send_error(
        self,
        api: WireProtocol,
        error: ApiError,
        request_id: str,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self._send_json(error.status, api.error(error), request_id, headers)

    def _send_json(
        self,
        status: int,
        body: Mapping[str, Any],
        request_id: str,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        payload = encode(body)
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("x-request-id", request_id)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
