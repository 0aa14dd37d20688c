"""Hostile manifests, as a pull request could bring them, through the real CLI.

Each case of tests/corpus/hostile/ is a few files laid over the example repository (its
expected.txt lists the diagnostics, `path:line:col CODE`). The benchmark database and the real
LiteLLM proxy first hold an applied state with an open session and its key; then, for each case:
`validate` reports exactly the expected codes at their locations, and `plan`, `apply` and `render`
refuse with a non-zero exit, one error line and no traceback; no output shows the master key;
and the database's rows and the proxy's keys are the same afterwards as before.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from benchctl.db import migrate
from benchctl.reconcile.desired import KEY_ALIAS_PREFIX

from conftest import copy_manifests, fresh_database
from proxy_stack import ProxyStack

CORPUS = Path(__file__).parent / "corpus" / "hostile"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
_EXPECTED = re.compile(r"^(?P<path>\S+):(?P<line>\d+):(?P<col>\d+) (?P<code>BC\d{3})$")


def expected(case: str) -> list[tuple[str, int, int, str]]:
    found = []
    for raw in (CORPUS / case / "expected.txt").read_text().splitlines():
        if raw.strip() and not raw.startswith("#"):
            match = _EXPECTED.match(raw.strip())
            assert match, f"{case}/expected.txt: {raw!r}"
            found.append((match["path"], int(match["line"]), int(match["col"]), match["code"]))
    return found


def test_the_corpus_covers_every_attack_class():
    assert len(CASES) >= 40
    codes = {code for case in CASES for *_, code in expected(case)}
    assert {"BC211", "BC212", "BC213", "BC214", "BC215", "BC503", "BC504", "BC205"} <= codes


@pytest.fixture(scope="module")
def applied(
    litellm_proxy: ProxyStack, postgres_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """A database and proxy holding the example repository applied, with one open session."""
    with fresh_database(postgres_server) as database_url:
        yield from _applied(litellm_proxy, database_url, tmp_path_factory)


def _applied(
    litellm_proxy: ProxyStack, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate.upgrade(conn)
    env = {
        "BENCHCTL_DATABASE_URL": database_url,
        "BENCHCTL_PROXY_URL": litellm_proxy.url,
        "BENCHCTL_PROXY_MASTER_KEY": litellm_proxy.master_key,
        "BENCHCTL_OPERATOR": "tester@example.org",
    }
    base = copy_manifests(tmp_path_factory.mktemp("hostile-base"))
    from typer.testing import CliRunner

    from benchctl.cli.app import app

    runner = CliRunner()
    for args in (
        ["session", "add", "demo", "sdk-sim-fast", "fix-median"],
        ["apply", "--auto-approve"],
    ):
        done = runner.invoke(app, [*args, "--root", str(base)], env=env, catch_exceptions=False)
        assert done.exit_code == 0, done.output
    env["BASE"] = str(base)
    yield env
    with litellm_proxy.client() as client:
        stale = client.list_keys(alias_prefix=KEY_ALIAS_PREFIX)
        client.delete_keys(aliases=[k.key_alias for k in stale if k.key_alias])


def snapshot(env: dict[str, str], proxy: ProxyStack) -> dict[str, object]:
    """Every table's rows (a digest each) and every benchctl key the proxy holds."""
    state: dict[str, object] = {}
    with psycopg.connect(env["BENCHCTL_DATABASE_URL"]) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
        for (table,) in tables:
            digest = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                " FROM {} AS t"
            ).format(sql.Identifier(table))
            state[table] = conn.execute(digest).fetchone()
    with proxy.client() as client:
        keys = client.list_keys(alias_prefix=KEY_ALIAS_PREFIX)
    state["proxy keys"] = sorted(
        (k.key_alias or "", k.token or "", k.max_budget or 0.0) for k in keys
    )
    return state


@pytest.mark.parametrize("case", CASES)
def test_hostile_case_is_refused_with_nothing_changed(
    case: str, applied: dict[str, str], litellm_proxy: ProxyStack, run_cli, tmp_path: Path
):
    repo = tmp_path / "repo"
    shutil.copytree(applied["BASE"], repo, ignore=shutil.ignore_patterns(".benchctl"))
    for file in (CORPUS / case).rglob("*.yaml"):
        target = repo / file.relative_to(CORPUS / case)
        target.write_text(file.read_text())
    env = {k: v for k, v in applied.items() if k != "BASE"}
    before = snapshot(env, litellm_proxy)
    assert before["proxy keys"] and before["sessions"][0] == 1  # something is at stake

    validated = run_cli("validate", "--root", str(repo), "--format", "json", env=env)
    assert validated.exit_code == 1, validated.output
    found = [
        (str(Path(d["path"]).relative_to(repo)), d["line"], d["col"], d["code"])
        for d in json.loads(validated.stdout)["diagnostics"]
    ]
    assert found == expected(case)

    outputs = [validated.output]
    for args in (["plan"], ["apply", "--auto-approve"], ["render", "litellm-config"]):
        done = run_cli(*args, "--root", str(repo), env=env)
        assert done.exit_code == 1, (args, done.output)
        assert "manifest error(s)" in done.output, (args, done.output)
        outputs.append(done.output)
    for output in outputs:
        assert "Traceback" not in output
        assert litellm_proxy.master_key not in output
    assert snapshot(env, litellm_proxy) == before
