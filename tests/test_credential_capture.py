"""What reaches a provider's host is that provider's key, never benchctl's or LiteLLM's secrets.

A capturing HTTP server on loopback plays a provider with an `api_base` a pull request chose.
The real LiteLLM proxy serves the config benchctl renders for it, with a master key, a database
URL and other secrets in its environment, as `benchctl up` and deployments run it. A call
through a session-scoped key reaches the capture; what it recorded (every header and the body)
holds the provider's own key and none of the proxy's secrets. The manifests that would route
those secrets instead (`api_key_env: LITELLM_MASTER_KEY`, `request.extra.api_key`...) never get
this far: tests/corpus/hostile/ shows `validate`, `plan`, `apply` and `render` refuse them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from benchctl.litellm.config import render_config
from benchctl.manifests.loader import load_repository

from minirepo import FILES, write_minirepo
from proxy_stack import proxy_process

PROVIDER_KEY = "sk-acme-provider-key-0123456789"
OTHER_SECRET = "sk-operator-secret-0123456789"


class Capture(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        Capture.seen.append({**dict(self.headers.items()), "body": body})
        reply = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": "m1",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hi"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def capture() -> Iterator[str]:
    Capture.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_only_the_providers_own_key_reaches_its_host(
    capture: str, postgres_server: str, tmp_path: Path
):
    provider = f"""\
apiVersion: benchctl/v1
kind: Provider
metadata: {{name: acme}}
spec:
  route: openai/
  api_base: {capture}
  api_key_env: ACME_API_KEY
  models:
    m1:
      context_window: 100000
      prices: {{input: 1, output: 2}}
"""
    variant = (
        FILES["variants/fast.yaml"]
        .replace("provider: sim", "provider: acme")
        .replace("model: sim-fast", "model: m1")
    )
    result = load_repository(
        write_minirepo(tmp_path / "repo", providers__acme=provider, variants__fast=variant)
    )
    assert result.ok, result.errors
    config = render_config(result.repository)
    secrets_around = {"ACME_API_KEY": PROVIDER_KEY, "GITHUB_TOKEN": OTHER_SECRET}
    with proxy_process(postgres_server, tmp_path, config, secrets_around) as proxy:
        with httpx.Client(base_url=proxy.url, timeout=60) as http:
            admin = {"Authorization": f"Bearer {proxy.master_key}"}
            issued = http.post(
                "/key/generate", headers=admin, json={"models": ["fast"], "max_budget": 1}
            )
            issued.raise_for_status()
            session_key = issued.json()["key"]
            reply = http.post(
                "/v1/chat/completions",
                headers={"Authorization": f"Bearer {session_key}"},
                json={"model": "fast", "messages": [{"role": "user", "content": "hello"}]},
            )
        assert reply.status_code == 200, reply.text
        database_url = proxy.database_url
        master_key = proxy.master_key
    assert len(Capture.seen) == 1
    (request,) = Capture.seen
    headers = {k.lower(): v for k, v in request.items()}
    assert headers["authorization"] == f"Bearer {PROVIDER_KEY}"
    recorded = json.dumps(Capture.seen)
    for secret in (master_key, session_key, database_url, OTHER_SECRET):
        assert secret not in recorded
