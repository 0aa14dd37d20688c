"""The committed demo report is what its committed data gives, byte for byte; and `benchctl
import` restores a bundle faithfully."""

from __future__ import annotations

import filecmp
import json
import re
import shutil

import psycopg

from benchctl.db import migrate

from conftest import REPO_ROOT

DEMO = REPO_ROOT / "artifacts" / "demo"


def _env(database_url: str) -> dict[str, str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate.upgrade(conn)
    return {"BENCHCTL_DATABASE_URL": database_url}


def test_committed_demo_report_is_reproduced_from_its_data(run_cli, database_url, tmp_path):
    env = _env(database_url)
    imported = run_cli("import", str(DEMO / "data"), "--root", str(tmp_path), env=env)
    assert imported.exit_code == 0, imported.output
    assert "imported experiment demo" in imported.output
    out = tmp_path / "artifacts"
    written = run_cli("report", "demo", "--out", str(out), "--root", str(tmp_path), env=env)
    assert written.exit_code == 0, written.output
    produced = out / "demo"
    names = ["README.md", "report.json", *(f"charts/{p.name}" for p in (DEMO / "charts").iterdir())]
    _, mismatch, errors = filecmp.cmpfiles(DEMO, produced, names, shallow=False)
    assert (mismatch, errors) == ([], [])
    assert sorted(p.name for p in (produced / "charts").iterdir()) == sorted(
        p.name for p in (DEMO / "charts").iterdir()
    )


def test_committed_demo_folder_checks_clean_and_a_report_keeps_its_data_in_step(
    run_cli, database_url, tmp_path
):
    """`report --check` covers the data bundle too; `report` rewrites a bundle that disagrees."""
    env = _env(database_url)
    assert run_cli("import", str(DEMO / "data"), "--root", str(tmp_path), env=env).exit_code == 0
    out = tmp_path / "artifacts"
    shutil.copytree(DEMO, out / "demo")
    args = ["report", "demo", "--out", str(out), "--root", str(tmp_path)]
    checked = run_cli(*args, "--check", env=env)
    assert checked.exit_code == 0, checked.output
    assert "is up to date" in checked.output
    # A bundle from other data (as a hand-made session's report once left behind) is stale.
    sessions = out / "demo" / "data" / "sessions.csv"
    sessions.write_text(sessions.read_text().splitlines()[0] + "\n")
    checked = run_cli(*args, "--check", env=env)
    assert checked.exit_code == 1
    assert "data/sessions.csv is missing or out of date" in checked.output
    written = run_cli(*args, env=env)
    assert written.exit_code == 0, written.output
    assert "1 file(s) changed" in written.output
    assert sessions.read_bytes() == (DEMO / "data" / "sessions.csv").read_bytes()
    assert not [p for p in (out / "demo").iterdir() if p.name.startswith(".")]
    # A bundle file the export no longer writes (the other format) is stale too, and goes;
    # a file that is not the bundle's is left alone.
    (out / "demo" / "data" / "NOTES.txt").write_text("mine\n")
    (out / "demo" / "data" / "rollups.jsonl").write_text("{}\n")
    checked = run_cli(*args, "--check", env=env)
    assert checked.exit_code == 1
    assert "data/rollups.jsonl should no longer exist" in checked.output
    assert run_cli(*args, env=env).exit_code == 0
    assert not (out / "demo" / "data" / "rollups.jsonl").exists()
    assert (out / "demo" / "data" / "NOTES.txt").read_text() == "mine\n"


def test_export_of_an_import_is_the_same_bundle(run_cli, database_url, tmp_path):
    env = _env(database_url)
    assert run_cli("import", str(DEMO / "data"), "--root", str(tmp_path), env=env).exit_code == 0
    again = tmp_path / "again"
    exported = run_cli(
        "export", "demo", "--format", "csv", "--out", str(again), "--root", str(tmp_path), env=env
    )
    assert exported.exit_code == 0, exported.output
    for name in ("requests.csv", "sessions.csv", "rollups.csv", "session_rollups.csv"):
        assert (again / name).read_bytes() == (DEMO / "data" / name).read_bytes(), name


def test_import_refuses_an_experiment_already_there(run_cli, database_url, tmp_path):
    env = _env(database_url)
    assert run_cli("import", str(DEMO / "data"), "--root", str(tmp_path), env=env).exit_code == 0
    again = run_cli("import", str(DEMO / "data"), "--root", str(tmp_path), env=env)
    assert again.exit_code == 2
    assert "already in this database" in again.output


def test_import_refuses_what_is_not_a_bundle(run_cli, database_url, tmp_path):
    env = _env(database_url)
    partial = tmp_path / "partial"
    shutil.copytree(DEMO / "data", partial)
    (partial / "requests.csv").unlink()
    result = run_cli("import", str(partial), "--root", str(tmp_path), env=env)
    assert result.exit_code == 2 and "requests.csv is missing" in result.output
    # Nothing half-applied: the manifests and sessions it did read were rolled back.
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM experiments").fetchone() == (0,)
    (tmp_path / "empty").mkdir()
    result = run_cli("import", str(tmp_path / "empty"), "--root", str(tmp_path), env=env)
    assert result.exit_code == 2 and "manifest snapshot" in result.output


def test_session_list_piped_keeps_every_cell_whole(run_cli, database_url, tmp_path):
    env = _env(database_url)
    assert run_cli("import", str(DEMO / "data"), "--root", str(tmp_path), env=env).exit_code == 0
    listed = run_cli("session", "list", "--root", str(tmp_path), env={**env, "COLUMNS": "80"})
    assert listed.exit_code == 0, listed.output
    assert "…" not in listed.output
    assert "sdk-anthropic-sim-fast v1" in listed.output
    assert "slugify-tests v1" in listed.output
    # Outcomes carry where they came from: every demo session was scored by its verifier.
    assert "success (verified)" in listed.output and "(self-reported)" not in listed.output


def test_escape_sequences_in_imported_notes_never_reach_the_terminal(
    run_cli, database_url, tmp_path
):
    """A crafted bundle puts an OSC title sequence and a screen clear in a session's notes."""
    env = _env(database_url)
    bundle = tmp_path / "bundle"
    shutil.copytree(DEMO / "data", bundle)
    sessions = bundle / "sessions.csv"
    hostile = "\x1b]0;pwned\x07\x1b[2J\x9b31m"
    # The first session's empty notes (`,""` after its outcome), crafted.
    text, count = re.subn(
        r',(success|failure),"",', rf',\1,"{hostile}",', sessions.read_text(), count=1
    )
    assert count == 1
    sessions.write_text(text)
    assert run_cli("import", str(bundle), "--root", str(tmp_path), env=env).exit_code == 0
    listed = run_cli("session", "list", "--root", str(tmp_path), env=env)
    ids = json.loads(run_cli("session", "list", "--json", "--root", str(tmp_path), env=env).stdout)
    every = "".join(
        run_cli("session", "show", row["id"], "--root", str(tmp_path), env=env).output
        for row in ids
    )
    for output in (listed.output, every):
        assert "\x1b" not in output and "\x9b" not in output and "\x07" not in output
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m" in every
