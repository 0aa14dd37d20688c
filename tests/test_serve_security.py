"""`benchctl serve` security: the token off loopback, loopback Host names without it, headers on
every response, read-only connections, and no secret in any response."""

from __future__ import annotations

import json
import re
import threading
import time

import psycopg
import pytest

from serve_support import (
    DB_PASSWORD,
    MASTER_KEY,
    end_attempt,
    move_attempt,
    password_in,
    start_attempt,
    writable,
)

TOKEN = "a-long-enough-serve-token-1234"
pytestmark = pytest.mark.usefixtures("demo_database")


def _sessions(client) -> list[str]:
    found = client.get("/api/v1/sessions", params={"limit": 500})
    return [s["session_id"] for s in found.json()["sessions"]] if found.status_code == 200 else []


def _everything(client) -> list:
    """Every route the server has, over every session: what a crawler could fetch."""
    paths = [
        "/", "/experiments/demo", "/experiments/demo/sessions", "/experiments/demo/live",
        "/login", "/healthz", "/static/viewer.css", "/static/live.js",
        "/api/v1/experiments", "/api/v1/experiments/demo", "/api/v1/experiments/demo/report",
        "/api/v1/experiments/demo/progress", "/api/v1/experiments/demo/progress/stream",
        "/api/v1/experiments/demo/charts/latency.svg", "/api/v1/sessions?limit=500",
        "/api/v1/openapi.json", "/api/v1/sessions?limit=0", "/experiments/demo/sessions?limit=x",
        "/api/v1/experiments/nope", "/sessions/00000000-0000-0000-0000-000000000000",
    ]  # fmt: skip
    for sid in _sessions(client):
        paths += [
            f"/sessions/{sid}",
            f"/api/v1/sessions/{sid}",
            f"/api/v1/sessions/{sid}/timeline.svg",
        ]
    return [client.get(path) for path in paths]


def test_no_response_holds_a_secret(serve_client, own_demo_database):
    with writable(own_demo_database) as conn:
        # Keys' hashes are in the database (the demo's bundle left them out): never served.
        conn.execute("UPDATE sessions SET key_hash = encode(sha256(id::text::bytea), 'hex')")
        conn.execute("UPDATE run_attempts SET key_hash = encode(sha256(id::text::bytea), 'hex')")
        hashes = [r[0] for r in conn.execute("SELECT key_hash FROM sessions").fetchall()]
    client = serve_client(own_demo_database, show_content=True)
    password = password_in(own_demo_database)
    responses = _everything(client)
    assert {r.status_code for r in responses} >= {200, 400, 404}
    assert all(r.status_code < 500 for r in responses)
    for response in responses:
        text = response.text + str(response.headers)
        assert password not in text, response.url
        assert MASTER_KEY not in text, response.url
        assert not re.search(r"\bsk-[A-Za-z0-9_-]{12,}", text), response.url
        assert not re.search(r"postgres(ql)?://[^\s\"']*:[^\s\"'@]+@", text), response.url
        assert not any(h in text for h in hashes), response.url


HOSTILE = "</pre><script>alert(1)</script><img src=x onerror=alert(2)>"


def test_what_harnesses_tasks_and_operators_wrote_is_shown_as_text(serve_client, own_demo_database):
    """A harness's output, a task's test names and errors, a model name a harness asked for and
    an operator's notes reach the pages as text: never markup, never script."""
    with writable(own_demo_database) as conn:
        sid = conn.execute("SELECT id::text FROM sessions LIMIT 1").fetchone()[0]
        conn.execute("UPDATE sessions SET notes = %s WHERE id = %s", (HOSTILE, sid))
        conn.execute(
            "UPDATE run_attempts SET log = %s, error = %s WHERE session_id = %s",
            (HOSTILE, HOSTILE, sid),
        )
        conn.execute(
            "UPDATE verifications SET log = %s, checks = %s WHERE session_id = %s",
            (HOSTILE, json.dumps([{"name": HOSTILE, "status": "failed"}]), sid),
        )
        conn.execute("UPDATE requests SET requested_model = %s, routed_model = %s"
                     " WHERE session_id = %s", (HOSTILE, HOSTILE, sid))  # fmt: skip
    client = serve_client(own_demo_database)
    page = client.get(f"/sessions/{sid}").text
    timeline = client.get(f"/api/v1/sessions/{sid}/timeline.svg").text
    for text in (page, timeline):
        assert "<script>" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("&lt;/pre&gt;") >= 5  # notes, run log, error, verifier log, check name
    assert "&lt;script&gt;" in timeline
    assert client.get(f"/api/v1/sessions/{sid}").json()["notes"] == HOSTILE


def test_every_response_carries_the_security_headers(serve_client):
    responses = [*_everything(serve_client()), *_everything(serve_client(token=TOKEN))]
    assert {r.status_code for r in responses} >= {200, 400, 401, 404}
    for response in responses:
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"


def test_pages_load_nothing_from_elsewhere(serve_client):
    client = serve_client()
    for response in _everything(client):
        if response.headers.get("content-type", "").startswith("text/html"):
            assert not re.search(r"(src|href)=\"(https?:)?//", response.text), response.url


def test_with_a_token_every_request_needs_it(serve_client):
    client = serve_client(token=TOKEN)
    refused = client.get("/api/v1/experiments")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert "BENCHCTL_SERVE_TOKEN" in refused.json()["detail"]
    wrong = client.get("/api/v1/experiments", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert wrong.status_code == 401
    for scheme in ("Bearer", "bearer"):
        ok = client.get("/api/v1/experiments", headers={"Authorization": f"{scheme} {TOKEN}"})
        assert ok.status_code == 200
    page = client.get("/experiments/demo")
    assert page.status_code == 401
    assert '<form method="post" action="/login">' in page.text
    assert 'name="next" value="/experiments/demo"' in page.text
    # Open: the sign-in page, its stylesheet, the liveness probe.
    for path in ("/login", "/static/viewer.css", "/healthz"):
        assert client.get(path).status_code == 200, path


def test_signing_in_sets_a_cookie_that_is_not_the_token(serve_client):
    client = serve_client(token=TOKEN)
    wrong = client.post("/login", data={"token": "guess", "next": "/"}, follow_redirects=False)
    assert wrong.status_code == 401
    assert "That is not the token." in wrong.text
    assert "set-cookie" not in wrong.headers
    signed = client.post(
        "/login", data={"token": TOKEN, "next": "/experiments/demo"}, follow_redirects=False
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/experiments/demo"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert TOKEN not in cookie
    assert client.get("/experiments/demo").status_code == 200  # the client keeps the cookie
    client.cookies.clear()
    assert client.get("/experiments/demo").status_code == 401


def test_a_malformed_sign_in_is_a_400(serve_client):
    client = serve_client(token=TOKEN)
    huge = client.post("/login", content=b"token=" + b"x" * 100_000)
    assert huge.status_code == 400
    assert "too large" in huge.text
    fields = "&".join(f"f{i}=1" for i in range(10))
    many = client.post("/login", content=fields.encode(),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert many.status_code == 400
    assert "too many fields" in many.text


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "evil"])
def test_signing_in_never_redirects_elsewhere(serve_client, target):
    client = serve_client(token=TOKEN)
    signed = client.post("/login", data={"token": TOKEN, "next": target}, follow_redirects=False)
    assert signed.headers["location"] == "/"


@pytest.mark.parametrize(
    ("host", "status"),
    [("127.0.0.1:8080", 200), ("localhost:8080", 200), ("[::1]:8080", 200), ("localhost", 200),
     ("evil.example", 400), ("evil.example:8080", 400), ("127.0.0.1.evil.example", 400)],
)  # fmt: skip
def test_without_a_token_only_loopback_host_names_are_answered(serve_client, host, status):
    """A page elsewhere cannot reach a loopback viewer by rebinding its own name to 127.0.0.1."""
    found = serve_client().get("/api/v1/experiments", headers={"Host": host})
    assert found.status_code == status
    if status == 400:
        assert "loopback only" in found.json()["detail"]


def test_the_servers_connections_cannot_write(serve_client):
    client = serve_client()
    with client.app.state.pool.connection() as conn, pytest.raises(psycopg.Error) as failed:
        conn.execute("UPDATE sessions SET notes = 'changed'")
    assert "read-only transaction" in str(failed.value)


def test_a_token_is_required_off_loopback_and_must_be_long(monkeypatch):
    from benchctl.errors import UsageError
    from benchctl.serve.config import load_token

    monkeypatch.delenv("BENCHCTL_SERVE_TOKEN", raising=False)
    assert load_token("127.0.0.1") is None
    assert load_token("::1") is None
    with pytest.raises(UsageError, match="set BENCHCTL_SERVE_TOKEN"):
        load_token("0.0.0.0")
    monkeypatch.setenv("BENCHCTL_SERVE_TOKEN", "short")
    with pytest.raises(UsageError, match="at least 16"):
        load_token("127.0.0.1")
    monkeypatch.setenv("BENCHCTL_SERVE_TOKEN", TOKEN)
    assert load_token("192.0.2.1") == TOKEN


def test_the_command_refuses_in_one_line(run_cli, tmp_path, postgres_server):
    env = {"BENCHCTL_SERVE_TOKEN": ""}
    exposed = run_cli("serve", "--host", "0.0.0.0", "--root", str(tmp_path), env=env)
    assert exposed.exit_code == 2
    assert "set BENCHCTL_SERVE_TOKEN" in exposed.output
    # A database that does not answer: one line, the password never shown.
    url = f"postgresql://bench:{DB_PASSWORD}@127.0.0.1:9/benchctl?connect_timeout=2"
    down = run_cli("serve", "--root", str(tmp_path), env={"BENCHCTL_DATABASE_URL": url})
    assert down.exit_code != 0
    assert "cannot connect to the benchmark database" in down.output
    assert DB_PASSWORD not in down.output


def _events(response, until: str) -> list[tuple[str, dict]]:
    import json

    found, event = [], None
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            found.append((event, json.loads(line.split(":", 1)[1])))
            if event == until:
                return found
    return found


def test_live_progress_streams_what_the_database_says_until_the_run_is_done(
    serve_client, own_demo_database
):
    sid = start_attempt(own_demo_database)
    client = serve_client(own_demo_database, poll_s=0.1)
    snapshot = client.get("/api/v1/experiments/demo/progress").json()
    assert (snapshot["done"], snapshot["pending"]) == (False, 1)
    assert snapshot["running"][0]["step"] == "harness"
    assert snapshot["running"][0]["runner"] == "host-b:42:1"

    def finish() -> None:
        time.sleep(0.5)
        move_attempt(own_demo_database, "verify")
        time.sleep(0.5)
        end_attempt(own_demo_database, sid)

    worker = threading.Thread(target=finish)
    worker.start()
    with client.stream("GET", "/api/v1/experiments/demo/progress/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response, until="done")
    worker.join()
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"progress"}
    steps = [
        data["running"][0]["step"]
        for kind, data in events
        if kind == "progress" and data["running"]
    ]
    assert steps[0] == "harness" and "verify" in steps
    last = events[-2][1]
    assert (last["done"], last["pending"], last["running"]) == (True, 0, [])
    assert last["finished"][0]["session_id"] == sid and last["finished"][0]["outcome"] == "success"
