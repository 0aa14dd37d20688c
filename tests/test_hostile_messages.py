"""Every error is one clear line with no secret in it: hostile settings through the real CLI.

Each case runs a real command (typer's runner, in-process, with ``catch_exceptions=False``, so
a traceback fails the test) against what an attacker or an unlucky operator can put in the
environment: connection strings with passwords in every form libpq reads, strings that are no
connection string at all, malformed proxy URLs, a web server that is not LiteLLM, and a
PostgreSQL that ends the command's session while it runs. The command must exit non-zero with
exactly one line on stderr, a line that says what to do and never repeats the password.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from benchctl.errors import ProxyError
from benchctl.litellm.client import LiteLLMClient
from benchctl.settings import redact_dsn

SECRET = "hunter2"
# A socket folder where no PostgreSQL listens: connecting fails fast and for certain.
NOWHERE = "/nonexistent-benchctl-test"
# Everything a command reads from the environment, unset unless a test sets it.
QUIET_ENV: dict[str, str | None] = dict.fromkeys(
    (
        "BENCHCTL_DATABASE_URL",
        "BENCHCTL_PROXY_URL",
        "BENCHCTL_PROXY_MASTER_KEY",
        "LITELLM_MASTER_KEY",
        "BENCHCTL_LITELLM_DATABASE_URL",
        "BENCHCTL_PROMETHEUS_URL",
    )
)


def env(**values: str) -> dict[str, Any]:
    return {**QUIET_ENV, **values}


def assert_one_line_error(result: Any, exit_code: int, *secrets: str) -> str:
    """Exit ``exit_code``, one ``error:`` line on stderr and nothing else, no traceback, none
    of ``secrets`` anywhere; the line, for further checks."""
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    for secret in secrets:
        assert secret not in result.output, result.output
    return lines[0]


# -- the masking function ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            f"host=/tmp port=5432 user=u password={SECRET} dbname=x",
            "host=/tmp port=5432 user=u password=*** dbname=x",
        ),
        (f"host=/tmp password='{SECRET} with spaces' dbname=x", "host=/tmp password=*** dbname=x"),
        (f"host=/tmp password = 'it\\'s {SECRET}' dbname=x", "host=/tmp password = *** dbname=x"),
        (f"host=/tmp password={SECRET}\\ x dbname=x", "host=/tmp password=*** dbname=x"),
        (f"host=x password='{SECRET} unterminated", "host=x password=***"),
        (f"sslpassword={SECRET} host=x", "sslpassword=*** host=x"),
        (f"postgresql://u:{SECRET}@h:5432/db", "postgresql://u:***@h:5432/db"),
        (f"postgres://u:p@{SECRET}@h/db", "postgres://u:***@h/db"),
        (f"postgresql://:{SECRET}@h/db", "postgresql://:***@h/db"),
        (
            f"postgresql://u@h/db?sslmode=require&password={SECRET}#x",
            "postgresql://u@h/db?sslmode=require&password=***#x",
        ),
        (
            f"postgresql://u@h/db?password={SECRET}&sslmode=require",
            "postgresql://u@h/db?password=***&sslmode=require",
        ),
        (
            f'cannot connect to "host=h password={SECRET}": refused',
            'cannot connect to "host=h password=*** refused',
        ),
        (
            'password authentication failed for user "u"',
            'password authentication failed for user "u"',
        ),
        ("http://127.0.0.1:4000/key/list", "http://127.0.0.1:4000/key/list"),
    ],
)
def test_redact_dsn_masks_every_form(text: str, masked: str):
    assert redact_dsn(text) == masked
    assert SECRET not in redact_dsn(text)


# -- connection strings with passwords ---------------------------------------------------------

PASSWORD_FORMS = {
    "keyword": f"host={NOWHERE} port=5432 user=u password={SECRET} dbname=x",
    "keyword-quoted": f"host={NOWHERE} user=u password='{SECRET} two words' dbname=x",
    "url-userinfo": f"postgresql://u:{SECRET}@/x?host={NOWHERE}",
    "url-query": f"postgresql://u@/x?host={NOWHERE}&password={SECRET}",
}


@pytest.mark.parametrize("dsn", PASSWORD_FORMS.values(), ids=PASSWORD_FORMS.keys())
def test_unreachable_database_is_one_line_without_the_password(run_cli, tmp_path: Path, dsn: str):
    """`db upgrade` (open_connection) and `purge-content` (connect) name the server, masked."""
    for command in (["db", "upgrade"], ["purge-content"]):
        result = run_cli(*command, "--root", str(tmp_path), env=env(BENCHCTL_DATABASE_URL=dsn))
        line = assert_one_line_error(result, 1, SECRET)
        assert "cannot connect to the benchmark database at" in line
        assert "***" in line and NOWHERE in line
        assert "BENCHCTL_DATABASE_URL" in line


@pytest.mark.parametrize("dsn", PASSWORD_FORMS.values(), ids=PASSWORD_FORMS.keys())
def test_database_url_and_status_show_the_url_masked(run_cli, tmp_path: Path, dsn: str):
    shown = run_cli("db", "url", "--root", str(tmp_path), env=env(BENCHCTL_DATABASE_URL=dsn))
    assert shown.exit_code == 0, shown.output
    assert shown.output.strip() == redact_dsn(dsn)
    assert SECRET not in shown.output and "***" in shown.output
    status = run_cli("status", "--root", str(tmp_path), env=env(BENCHCTL_DATABASE_URL=dsn))
    assert "Traceback" not in status.output
    assert SECRET not in status.output
    assert "BENCHCTL_DATABASE_URL" in status.output


@pytest.mark.parametrize(
    "value",
    [
        "not a url at all =",
        f"{SECRET} and more",
        f"host=/tmp password='{SECRET}",  # unterminated quote
        f"postgresql://u:{SECRET}%zz@h/db",  # libpq quotes the bad token: the password
        "postgresql://u@h/db?no_such_parameter=1",
    ],
)
def test_unreadable_database_url_is_a_usage_error(run_cli, tmp_path: Path, value: str):
    for command in (["db", "upgrade"], ["db", "url"], ["status"]):
        result = run_cli(*command, "--root", str(tmp_path), env=env(BENCHCTL_DATABASE_URL=value))
        line = assert_one_line_error(result, 2, SECRET)
        assert (
            "BENCHCTL_DATABASE_URL is not a postgresql:// URL or a libpq key=value string" in line
        )
        assert "or unset it" in line


@pytest.mark.parametrize(
    "value",
    [f"host=h password='{SECRET}", f"mysql://u:{SECRET}@h/db", f"postgresql://u:{SECRET}@h:x/db"],
)
def test_unreadable_litellm_database_url_is_a_usage_error(run_cli, tmp_path: Path, value: str):
    result = run_cli(
        "purge-content", "--root", str(tmp_path), env=env(BENCHCTL_LITELLM_DATABASE_URL=value)
    )
    line = assert_one_line_error(result, 2, SECRET)
    assert "BENCHCTL_LITELLM_DATABASE_URL is not a postgresql:// URL" in line


# -- malformed proxy URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("::::", "it has no scheme"),
        ("http://[::1", "its host or port cannot be read"),
        ("ftp://x", "its scheme is 'ftp'"),
        ("localhost:4000", "its scheme is 'localhost'"),
        ("http://127.0.0.1:99999", "its host or port cannot be read"),
        ("http://", "it has no host"),
        ("http://a b", "spaces or control characters"),
        (f"http://admin:{SECRET}@[::1", "its host or port cannot be read"),
    ],
)
def test_malformed_proxy_url_is_a_usage_error(run_cli, example_repo: Path, value: str, reason: str):
    result = run_cli(
        "plan",
        "--root",
        str(example_repo),
        env=env(BENCHCTL_PROXY_URL=value, BENCHCTL_PROXY_MASTER_KEY="sk-test-master-key"),
    )
    line = assert_one_line_error(result, 2, SECRET, "sk-test-master-key")
    assert line.startswith("error: BENCHCTL_PROXY_URL=")
    assert reason in line and "http://127.0.0.1:4000" in line


def test_malformed_prometheus_url_is_a_usage_error(run_cli, tmp_path: Path):
    result = run_cli(
        "purge-content", "--root", str(tmp_path), env=env(BENCHCTL_PROMETHEUS_URL="::")
    )
    line = assert_one_line_error(result, 2)
    assert "BENCHCTL_PROMETHEUS_URL='::' is not an http(s) URL" in line


@pytest.mark.parametrize("url", ["::::", "http://[::1", "ftp://x"])
def test_client_refuses_a_malformed_url_with_a_proxy_error(url: str):
    """Library users who bypass Settings get a ProxyError too, not httpx's InvalidURL."""
    with (
        pytest.raises(ProxyError, match=r"not a usable http\(s\) URL") as caught,
        LiteLLMClient(url, "sk-test-master-key", timeout=2) as client,
    ):
        client.health()
    assert "sk-test-master-key" not in str(caught.value)


# -- a web server that is not LiteLLM ----------------------------------------------------------

PAGE_MARKER = "Welcome-to-nginx-page-marker"
HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n<body>\n"
    + f"<h1>{PAGE_MARKER}</h1>\n"
    + "<p>If you see this page, the web server is working.</p>\n" * 40
    + "</body></html>\n"
)


class _Page(http.server.BaseHTTPRequestHandler):
    status = 404
    content_type = "text/html; charset=utf-8"
    body = HTML_PAGE

    def _answer(self) -> None:
        data = self.body.encode()
        self.send_response(self.status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def _serve(status: int, content_type: str, body: str) -> Iterator[str]:
    handler = type(
        "Handler", (_Page,), {"status": status, "content_type": content_type, "body": body}
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def migrated(run_cli, tmp_path: Path, database_url: str) -> str:
    result = run_cli(
        "db", "upgrade", "--root", str(tmp_path), env=env(BENCHCTL_DATABASE_URL=database_url)
    )
    assert result.exit_code == 0, result.output
    return database_url


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (404, "text/html; charset=utf-8", HTML_PAGE),
        (200, "text/html; charset=utf-8", HTML_PAGE),
        (502, "text/plain", "<html><body>" + PAGE_MARKER + "</body></html>"),
        (500, "text/plain", f"{PAGE_MARKER} " * 40),  # plain text, but far too long to quote
    ],
    ids=["html-404", "html-200", "markup-as-text-502", "long-text-500"],
)
def test_a_server_that_is_not_litellm_is_described_not_quoted(
    run_cli, example_repo: Path, migrated: str, status: int, content_type: str, body: str
):
    """`plan` asks the proxy for keys; a web page in its place is named by status, content type
    and size, with what to check, and none of it is embedded in the message."""
    for url in _serve(status, content_type, body):
        result = run_cli(
            "plan",
            "--root",
            str(example_repo),
            env=env(
                BENCHCTL_DATABASE_URL=migrated,
                BENCHCTL_PROXY_URL=url,
                BENCHCTL_PROXY_MASTER_KEY="sk-test-master-key",
            ),
        )
        line = assert_one_line_error(
            result, 1, "sk-test-master-key", PAGE_MARKER, "<html", "<!DOCTYPE"
        )
        assert f"{url} answered GET /key/list with HTTP {status}" in line
        assert content_type.split(";")[0] in line and "bytes" in line
        assert "check that BENCHCTL_PROXY_URL is the LiteLLM proxy's address" in line
        assert len(line) < 400


def test_a_short_plain_refusal_is_still_quoted():
    """What the old client did right stays: a short, plain refusal is the proxy's own words."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(418, text="no keys for you\n\ntoday")

    client = LiteLLMClient("http://proxy.test", "sk-m", transport=httpx.MockTransport(handler))
    with pytest.raises(
        ProxyError, match=r"refused GET /key/list with HTTP 418: no keys for you today$"
    ):
        client.count_keys(alias_prefix="bc-")


def test_a_long_json_refusal_is_cut_to_one_short_line():
    message = "Traceback (most recent call last):\n" + "  File 'x.py', line 1\n" * 200

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"error": {"message": message, "type": "internal"}})

    client = LiteLLMClient("http://proxy.test", "sk-m", transport=httpx.MockTransport(handler))
    with pytest.raises(ProxyError) as caught:
        client.count_keys(alias_prefix="bc-")
    text = str(caught.value)
    assert "\n" not in text and len(text) < 400 and text.endswith("...")


# -- PostgreSQL failing mid-command ------------------------------------------------------------

MIGRATIONS_LOCK = "SELECT pg_advisory_xact_lock(hashtext('benchctl.migrations'))"


def _with_password(database_url: str) -> tuple[str, str]:
    """The test server's URL with a password in it, and that password (the secret to look for).

    The throw-away server trusts local connections, so an added password is never checked; a
    server of your own (BENCHCTL_TEST_DATABASE_URL) keeps the password it has.
    """
    info = conninfo_to_dict(database_url)
    if info.get("password"):
        return database_url, str(info["password"])
    return make_conninfo(database_url, password=SECRET), SECRET


@pytest.mark.parametrize(
    "command",
    [["db", "upgrade"], ["purge-content"]],
    ids=["with-block", "try-finally"],
)
def test_database_ending_the_session_mid_command_is_one_line(
    run_cli, tmp_path: Path, database_url: str, command: list[str]
):
    """The server ends the command's session while a query of the command runs.

    Deterministic, with a real server and a real termination: this test takes the advisory lock
    `benchctl` takes first thing when it migrates a database (``pg_advisory_xact_lock`` on
    ``hashtext('benchctl.migrations')``) in an open transaction of its own, so the command,
    connected to a fresh database, blocks inside that query. A watcher finds the command's
    backend waiting on the lock (``pg_stat_activity``: ``application_name = 'benchctl'``) and
    ends it with ``pg_terminate_backend``, as an administrator or a server shutting down
    would: psycopg then raises AdminShutdown from inside the query, with the connection gone.
    Only this test's own database and backend are touched; the shared server runs on.
    `db upgrade` holds its connection in a ``with`` block, `purge-content` in try/finally.
    """
    dsn, secret = _with_password(database_url)
    holder = psycopg.connect(database_url)  # not autocommit: the lock lasts its transaction
    holder.execute(MIGRATIONS_LOCK)
    holder_pid = holder.info.backend_pid
    ended: list[int] = []

    def terminate() -> None:
        with psycopg.connect(database_url, autocommit=True) as admin:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                row = admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name = 'benchctl' AND wait_event_type = 'Lock'"
                ).fetchone()
                if row is not None:
                    admin.execute("SELECT pg_terminate_backend(%s)", row)
                    ended.append(row[0])
                    return
                time.sleep(0.02)
            # Never blocked? Release the command rather than leave it waiting forever.
            admin.execute("SELECT pg_terminate_backend(%s)", (holder_pid,))

    watcher = threading.Thread(target=terminate, daemon=True)
    watcher.start()
    try:
        result = run_cli(*command, "--root", str(tmp_path), env=env(BENCHCTL_DATABASE_URL=dsn))
    finally:
        watcher.join(timeout=60)
        holder.close()
    assert ended, "the command never waited on the migrations' lock"
    line = assert_one_line_error(result, 1, secret)
    assert "lost the connection to the benchmark database at" in line
    assert "terminating connection due to administrator command" in line
    assert "`benchctl status`" in line and "run the command again" in line


@pytest.mark.parametrize(
    "command",
    [["db", "upgrade"], ["purge-content"]],
    ids=["with-block", "try-finally"],
)
def test_database_refusing_mid_command_is_one_line(
    run_cli, tmp_path: Path, database_url: str, command: list[str]
):
    """A failure that leaves the connection up: a lock timeout (an OperationalError too).

    The command's session gets ``lock_timeout=200ms`` through the connection string's
    ``options`` while this test holds the migrations' advisory lock, so the command's first
    migration query is refused by the server after 200 ms, every time.
    """
    dsn, secret = _with_password(database_url)
    dsn = make_conninfo(dsn, options="-c lock_timeout=200")
    with psycopg.connect(database_url) as holder:
        holder.execute(MIGRATIONS_LOCK)
        result = run_cli(*command, "--root", str(tmp_path), env=env(BENCHCTL_DATABASE_URL=dsn))
    line = assert_one_line_error(result, 1, secret)
    assert "stopped the command (canceling statement due to lock timeout)" in line
    assert "Run it again" in line
