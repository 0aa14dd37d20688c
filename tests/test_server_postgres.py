"""The benchmark database on a server, as in production: whatever the test server is.

The suite's server is pgserver by default; CI runs this module (and the database-heavy ones)
a second time against Debian's PostgreSQL over TCP with a password and ``sslmode=require``
(``.ci/server-postgres.sh``, BENCHCTL_TEST_DATABASE_URL). Either way: benchctl connects as the
URL says (TLS when it asks for it), and no command's output shows the password, neither when it
works nor when the password is wrong.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from benchctl.db.connection import open_connection
from benchctl.settings import Settings

# Over a socket with trust (pgserver) a password is not checked: giving one still proves that
# no output shows it.
STAND_IN_PASSWORD = "n0t-$hown-anywhere"


def with_password(url: str, password: str | None = None) -> tuple[str, str]:
    """``url`` as a libpq string with ``password`` (else its own, else a stand-in)."""
    info = conninfo_to_dict(url)
    info["password"] = password or info.get("password") or STAND_IN_PASSWORD
    return make_conninfo(**info), str(info["password"])


def benchctl(root: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchctl", *args, "--root", str(root)],
        env={"BENCHCTL_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_tls_is_used_when_the_url_asks_for_it(database_url: str, tmp_path: Path):
    asked = conninfo_to_dict(database_url).get("sslmode") in ("require", "verify-ca", "verify-full")
    with open_connection(Settings(root=tmp_path, database_url=database_url, proxy_url=None)) as c:
        row = c.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row is not None
    assert row["ssl"] is asked


def test_no_output_shows_the_password(database_url: str, example_repo: Path):
    url, password = with_password(database_url)
    runs = [
        benchctl(example_repo, url, "db", "upgrade"),
        benchctl(example_repo, url, "db", "url"),
        benchctl(example_repo, url, "status"),
        benchctl(example_repo, url, "plan"),
    ]
    assert runs[0].returncode == 0, runs[0].stderr
    assert runs[3].returncode == 0, runs[3].stderr
    wrong_url, wrong = with_password(database_url, "Wr0ng-pa$$word")
    refused = benchctl(example_repo, wrong_url, "db", "upgrade")
    runs.append(refused)
    for done in runs:
        shown = done.stdout + done.stderr
        assert password not in shown and wrong not in shown, shown
    if conninfo_to_dict(database_url).get("password"):  # a server that checks passwords
        assert refused.returncode != 0
        assert "password authentication failed" in refused.stderr


def test_litellm_database_url_keeps_tls(database_url: str):
    from benchctl.stack.parts import prisma_url

    info = conninfo_to_dict(database_url)
    prisma = prisma_url(database_url, "litellm")
    if info.get("sslmode") and not str(info.get("host", "")).startswith("/"):
        assert prisma.endswith(f"/litellm?sslmode={info['sslmode']}")
    # What LiteLLM gets reaches the same server (the database itself may not exist yet).
    with psycopg.connect(prisma.replace("/litellm", "/" + str(info["dbname"]))) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
