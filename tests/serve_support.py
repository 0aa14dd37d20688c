"""Fixtures for `benchctl serve`: a database holding the demo's committed data (imported with
`benchctl import`, as a user would), and the server's app over it.

The database URL carries a password (the server's own, or one the test server ignores) and the
settings a master key: neither may appear in a response.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from typer.testing import CliRunner

from conftest import REPO_ROOT, fresh_database

DEMO = REPO_ROOT / "artifacts" / "demo"
DB_PASSWORD = "db-password-never-shown-7f3a"
MASTER_KEY = "sk-master-never-shown-0b1c2d3e4f"


def need_serve() -> None:
    absent = [
        m for m in ("fastapi", "uvicorn", "psycopg_pool") if importlib.util.find_spec(m) is None
    ]
    if absent:
        pytest.skip(f"needs the serve extra ({', '.join(absent)}): pip install -e '.[serve]'")


def import_demo(url: str, root: Path) -> None:
    from benchctl.cli.app import app

    done = CliRunner().invoke(
        app, ["import", str(DEMO / "data"), "--root", str(root)],
        env={"BENCHCTL_DATABASE_URL": url}, catch_exceptions=False,
    )  # fmt: skip
    assert done.exit_code == 0, done.output


def with_password(url: str) -> str:
    """``url`` with a password: its own on a server that asks for one, else ours."""
    return (
        url if conninfo_to_dict(url).get("password") else make_conninfo(url, password=DB_PASSWORD)
    )


def password_in(url: str) -> str:
    return str(conninfo_to_dict(url)["password"])


@pytest.fixture(scope="session")
def demo_database(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database with the demo imported, shared by the read-only tests: never change it."""
    need_serve()
    with fresh_database(postgres_server) as url:
        import_demo(url, tmp_path_factory.mktemp("demo-root"))
        yield with_password(url)


@pytest.fixture
def own_demo_database(postgres_server: str, tmp_path: Path) -> Iterator[str]:
    """A database with the demo imported, for a test that changes it."""
    need_serve()
    with fresh_database(postgres_server) as url:
        import_demo(url, tmp_path / "demo-root")
        yield with_password(url)


def settings_for(url: str, root: Path):  # type: ignore[no-untyped-def]
    from benchctl.settings import Settings

    return Settings(root=root, database_url=url, proxy_url=None, proxy_master_key=MASTER_KEY)


def writable(url: str) -> psycopg.Connection:
    info = conninfo_to_dict(url)
    return psycopg.connect(make_conninfo(**info), autocommit=True)


def start_attempt(url: str) -> str:
    """Reopen the demo's first session with an attempt in flight on another host, as a runner
    there would have left it mid-harness; returns the session's id."""
    with writable(url) as conn:
        row = conn.execute(
            "SELECT id::text FROM sessions ORDER BY variant, task_card, replicate LIMIT 1"
        ).fetchone()
        assert row is not None
        conn.execute("UPDATE sessions SET status = 'open', outcome = NULL WHERE id = %s", row)
        conn.execute(
            "INSERT INTO run_attempts (session_id, attempt, runner, status, leased_until, step)"
            " VALUES (%s, 9, 'host-b:42:1', 'running', now() + interval '1 hour', 'harness')",
            row,
        )
    return str(row[0])


def move_attempt(url: str, step: str) -> None:
    with writable(url) as conn:
        conn.execute("UPDATE run_attempts SET step = %s WHERE attempt = 9", (step,))


def end_attempt(url: str, session_id: str) -> None:
    """The attempt of ``start_attempt`` done, its session finalized a success."""
    with writable(url) as conn:
        conn.execute("UPDATE run_attempts SET status = 'done', ended_at = now() WHERE attempt = 9")
        conn.execute(
            "UPDATE sessions SET status = 'finalized', outcome = 'success' WHERE id = %s",
            (session_id,),
        )


@pytest.fixture(scope="session")
def _shared_clients(demo_database: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Clients over the shared demo database, one per configuration, for the whole run: its
    report is built once per configuration rather than once per test."""
    clients: dict[tuple[object, ...], object] = {}
    yield clients, tmp_path_factory.mktemp("serve-root")
    for client in clients.values():
        client.__exit__(None, None, None)  # type: ignore[attr-defined]


@pytest.fixture
def serve_client(demo_database: str, _shared_clients, tmp_path: Path):  # type: ignore[no-untyped-def]
    """``make(url=demo database, **config)``: a TestClient of the app (its lifespan run), with
    no cookie. Over the shared demo database a client is reused across tests; over a test's own
    database it is closed after the test. Reports are not built ahead (``warm``) unless asked."""
    from fastapi.testclient import TestClient

    from benchctl.serve.app import create_app
    from benchctl.serve.config import ServeConfig

    shared, shared_root = _shared_clients
    own = []

    def make(url: str = demo_database, **config: object) -> TestClient:
        config.setdefault("warm", False)
        key = (url, *sorted(config.items()))
        if url == demo_database and key in shared:
            client = shared[key]
            client.cookies.clear()
            return client
        root = shared_root if url == demo_database else tmp_path
        app = create_app(ServeConfig(settings=settings_for(url, root), **config))  # type: ignore[arg-type]
        client = TestClient(app, base_url="http://127.0.0.1:8080")
        client.__enter__()
        if url == demo_database:
            shared[key] = client
        else:
            own.append(client)
        return client

    yield make
    for client in own:
        client.__exit__(None, None, None)
