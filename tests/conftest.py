from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from benchctl.cli.app import app
from benchctl.manifests.models import FOLDER_KIND

REPO_ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = ["proxy_stack", "prometheus_stack", "serve_support"]


def copy_manifests(root: Path) -> Path:
    """A copy of the example repository's manifests at ``root``, for tests that change them."""
    for folder in (*FOLDER_KIND, "tasks"):
        shutil.copytree(REPO_ROOT / folder, root / folder)
    return root


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    return copy_manifests(tmp_path / "repo")


@pytest.fixture
def run_cli():
    """Run benchctl in-process through typer's runner, the way a user's shell would."""
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None):
        return runner.invoke(app, list(args), env=env, input=input, catch_exceptions=False)

    return run


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Maintenance URL of a real PostgreSQL for the whole run.

    BENCHCTL_TEST_DATABASE_URL names a server of your own (a role that may CREATE DATABASE);
    otherwise a throw-away pgserver instance is started for the run.
    """
    url = os.environ.get("BENCHCTL_TEST_DATABASE_URL")
    if url:
        yield url
        return
    import pgserver

    # Not under pytest's 0700 tmp folders: as root, pgserver runs postgres as its own user.
    datadir = Path(tempfile.mkdtemp(prefix="benchctl-test-pg-"))
    datadir.chmod(0o755)
    server = pgserver.get_server(datadir, cleanup_mode="stop")
    yield str(server.get_uri("postgres"))
    server.cleanup()
    shutil.rmtree(datadir, ignore_errors=True)


def _with_database(maintenance_url: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(maintenance_url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)


@contextmanager
def fresh_database(maintenance_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``maintenance_url``, dropped afterwards."""
    name = f"bc_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield _with_database(maintenance_url, name)
    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the test server, dropped afterwards."""
    with fresh_database(postgres_server) as url:
        yield url


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI=true nothing may skip: a skipped test there proves nothing, so the run fails."""
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and exitstatus == 0:
        names = ", ".join(report.nodeid for report in skipped[:5])
        reporter.write_line(f"CI=true: {len(skipped)} test(s) skipped ({names}); failing the run")
        session.exitstatus = 1
