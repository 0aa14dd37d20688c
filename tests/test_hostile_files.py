"""Only regular files inside the repository are read: hostile file types through `validate`.

A pull request can commit a symlink (``variants/x.yaml -> /etc/passwd``); a CI runner or a
shared checkout can hold a FIFO, a socket or a symlink loop named ``*.yaml``. `benchctl validate`
must refuse each with BC114 from its metadata alone: never open a FIFO (that blocks until a
writer comes), never read a symlink's target outside the repository (its first line would be
quoted in a YAML error). Symlinks that stay inside the repository are still followed.

Cases that could hang run ``python -m benchctl validate`` in a child process with a timeout, so
a hang fails the test instead of blocking the run; the others use the in-process runner, whose
``catch_exceptions=False`` turns a traceback into a failure.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from minirepo import FILES, write_minirepo

TIMEOUT = 60.0
SECRET_LINE = "secret-first-line: do-not-print-me"

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX file types")


def validate_in_child(root: Path, *paths: Path) -> tuple[int, list[dict[str, Any]], str]:
    """``python -m benchctl validate --root ROOT --format json [PATHS]``: exit code,
    diagnostics, everything printed. A run past the timeout fails the test."""
    args = ["validate", "--root", str(root), "--format", "json", *map(str, paths)]
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchctl", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`benchctl {' '.join(args)}` hung for {TIMEOUT:.0f}s")
    printed = proc.stdout + proc.stderr
    assert "Traceback" not in printed, printed
    return proc.returncode, json.loads(proc.stdout)["diagnostics"], printed


def validate_in_process(run_cli: Any, root: Path, *paths: Path) -> tuple[int, list[Any], str]:
    result = run_cli("validate", "--root", str(root), "--format", "json", *map(str, paths))
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)["diagnostics"], result.output


def found(diagnostics: list[dict[str, Any]], root: Path) -> list[tuple[str, str]]:
    """(path relative to the root, code) of each diagnostic."""
    return [(Path(d["path"]).relative_to(root).as_posix(), d["code"]) for d in diagnostics]


def only_bc114(diagnostics: list[dict[str, Any]], root: Path, rel: str) -> dict[str, Any]:
    assert found(diagnostics, root) == [(rel, "BC114")], diagnostics
    diagnostic = diagnostics[0]
    assert diagnostic["title"] == "not a regular file inside the repository"
    assert diagnostic["hint"].strip()
    return diagnostic


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_minirepo(tmp_path / "repo")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A YAML file outside the repository whose first line must never be printed."""
    path = tmp_path / "elsewhere" / "secret.yaml"
    path.parent.mkdir()
    path.write_text(f"{SECRET_LINE}\n: [not yaml\n", encoding="utf-8")
    return path


# -- symlinks out of the repository ------------------------------------------------------------


def test_symlink_to_a_file_outside_is_refused_unread(run_cli, repo: Path, outside: Path):
    (repo / "variants" / "x.yaml").symlink_to(outside)
    code, diagnostics, printed = validate_in_process(run_cli, repo)
    assert code == 1
    d = only_bc114(diagnostics, repo, "variants/x.yaml")
    assert d["message"] == f"a symlink to {outside}, outside the repository; it was not read"
    assert SECRET_LINE not in printed and "not yaml" not in printed


@pytest.mark.skipif(not Path("/etc/passwd").is_file(), reason="needs /etc/passwd")
def test_symlink_to_etc_passwd_is_refused_unread(run_cli, repo: Path):
    """The attack as it was observed: the error used to quote the target's first line."""
    (repo / "variants" / "x.yaml").symlink_to("/etc/passwd")
    first_line = Path("/etc/passwd").read_text(encoding="utf-8", errors="replace").split("\n")[0]
    for named in ((), (repo / "variants" / "x.yaml",)):
        code, diagnostics, printed = validate_in_process(run_cli, repo, *named)
        assert code == 1
        only_bc114(diagnostics, repo, "variants/x.yaml")
        assert first_line not in printed


def test_relative_symlink_climbing_out_is_refused(run_cli, repo: Path, outside: Path):
    (repo / "providers" / "up.yaml").symlink_to(Path("..", "..", "elsewhere", "secret.yaml"))
    code, diagnostics, printed = validate_in_process(run_cli, repo)
    assert code == 1
    only_bc114(diagnostics, repo, "providers/up.yaml")
    assert SECRET_LINE not in printed


def test_kind_folder_symlinked_outside_is_refused_without_listing_it(
    run_cli, repo: Path, outside: Path
):
    """`variants -> /somewhere` is one refusal: the folder outside is neither listed nor read."""
    for rel, text in FILES.items():
        if rel.startswith("variants/"):
            (outside.parent / Path(rel).name).write_text(text, encoding="utf-8")
            (repo / rel).unlink()
    (repo / "variants").rmdir()
    (repo / "variants").symlink_to(outside.parent, target_is_directory=True)
    code, diagnostics, printed = validate_in_process(run_cli, repo)
    assert code == 1
    assert ("variants", "BC114") in found(diagnostics, repo)
    assert not [d for d in diagnostics if Path(d["path"]).parent.name == "variants"], diagnostics
    assert "secret.yaml" not in printed and SECRET_LINE not in printed
    # Named on the command line, the folder and a file through it are refused the same way.
    code, diagnostics, printed = validate_in_process(
        run_cli, repo, repo / "variants", repo / "variants" / "secret.yaml"
    )
    assert code == 1
    assert sorted(found(diagnostics, repo)) == [
        ("variants", "BC114"),
        ("variants/secret.yaml", "BC114"),
    ]
    assert SECRET_LINE not in printed


def test_symlink_loop_is_refused(run_cli, repo: Path):
    (repo / "variants" / "loop.yaml").symlink_to("loop.yaml")
    (repo / "variants" / "a.yaml").symlink_to("b.yaml")
    (repo / "variants" / "b.yaml").symlink_to("a.yaml")
    code, diagnostics, _ = validate_in_process(run_cli, repo)
    assert code == 1
    assert sorted(found(diagnostics, repo)) == [
        ("variants/a.yaml", "BC114"),
        ("variants/b.yaml", "BC114"),
        ("variants/loop.yaml", "BC114"),
    ]
    assert all("symlink loop" in d["message"] for d in diagnostics)


# -- symlinks inside the repository ------------------------------------------------------------


def test_symlinks_inside_the_repository_are_followed(run_cli, repo: Path):
    """A manifest kept elsewhere in the repository and linked into its kind folder is valid, and
    so is a kind folder that is a symlink to a folder of the repository."""
    shared = repo / "shared"
    shared.mkdir()
    (repo / "variants" / "fast.yaml").rename(shared / "fast.yaml")
    (repo / "variants" / "fast.yaml").symlink_to(Path("..", "shared", "fast.yaml"))
    (repo / "task_cards").rename(repo / "cards")
    (repo / "task_cards").symlink_to("cards", target_is_directory=True)
    code, diagnostics, printed = validate_in_process(run_cli, repo)
    assert code == 0, printed
    assert diagnostics == []
    assert "5 manifest file(s) valid" in run_cli("validate", "--root", str(repo)).output


def test_a_repository_reached_through_a_symlink_is_inside(run_cli, repo: Path, tmp_path: Path):
    """--root itself may be a symlink (a checkout linked into place): its files are inside."""
    link = tmp_path / "linked-checkout"
    link.symlink_to(repo, target_is_directory=True)
    code, diagnostics, printed = validate_in_process(run_cli, link)
    assert code == 0, printed
    assert diagnostics == []


# -- FIFOs, sockets ----------------------------------------------------------------------------


def test_fifo_is_refused_without_opening_it(repo: Path):
    """A FIFO with no writer blocks whoever opens it for reading: `validate` used to hang."""
    fifo = repo / "variants" / "pipe.yaml"
    os.mkfifo(fifo)
    for named in ((), (fifo,)):
        code, diagnostics, _ = validate_in_child(repo, *named)
        assert code == 1
        d = only_bc114(diagnostics, repo, "variants/pipe.yaml")
        assert d["message"] == "a FIFO (named pipe), not a regular file; it was not read"


def test_symlink_to_a_fifo_inside_is_refused(repo: Path):
    os.mkfifo(repo / "pipe")
    (repo / "variants" / "x.yaml").symlink_to(Path("..", "pipe"))
    code, diagnostics, _ = validate_in_child(repo)
    assert code == 1
    only_bc114(diagnostics, repo, "variants/x.yaml")


def test_symlink_to_a_fifo_outside_is_refused_without_opening_it(repo: Path, tmp_path: Path):
    os.mkfifo(tmp_path / "outside-pipe")
    (repo / "experiments" / "x.yaml").symlink_to(tmp_path / "outside-pipe")
    code, diagnostics, _ = validate_in_child(repo)
    assert code == 1
    d = only_bc114(diagnostics, repo, "experiments/x.yaml")
    assert "outside the repository" in d["message"]


def test_socket_is_refused(repo: Path):
    path = repo / "providers" / "sock.yaml"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            server.bind(str(path))
        except OSError as exc:  # pragma: no cover - e.g. a path too long for AF_UNIX
            pytest.skip(f"cannot create a socket file here: {exc}")
        code, diagnostics, _ = validate_in_child(repo)
    finally:
        server.close()
    assert code == 1
    d = only_bc114(diagnostics, repo, "providers/sock.yaml")
    assert d["message"].startswith("a socket, not a regular file")


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
def test_device_named_on_the_command_line_is_refused(repo: Path, tmp_path: Path):
    """Outside the repository and named by the user, still not a regular file: refused."""
    link = tmp_path / "null.yaml"
    link.symlink_to("/dev/null")
    code, diagnostics, _ = validate_in_child(repo, link)
    assert code == 1
    assert [d["code"] for d in diagnostics] == ["BC114"]


def test_a_directory_named_yaml_is_still_unreadable(run_cli, repo: Path):
    """BC100 as before: a folder is not a special file, just not a file (corpus case 019)."""
    (repo / "variants" / "folder.yaml").mkdir()
    code, diagnostics, _ = validate_in_process(run_cli, repo)
    assert code == 1
    assert found(diagnostics, repo) == [("variants/folder.yaml", "BC100")]
