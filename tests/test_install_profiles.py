"""The base install works alone: nothing on a base command's path imports an optional package.

The check is real rather than a grep: a subprocess installs an import hook that refuses every
top-level module whose distribution is not required by benchctl's base dependencies (this venv
has the extras installed, so a plain import would succeed and prove nothing), then imports the
CLI and runs base commands through it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from importlib import metadata

import pytest
import typer.core
import typer.main
from packaging.requirements import Requirement

from benchctl import extras
from benchctl.cli.app import app

from conftest import REPO_ROOT


def _base_closure() -> set[str]:
    """Normalized names of every distribution the base install pulls in, benchctl included."""
    seen: set[str] = set()
    todo = ["benchctl"]
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # an optional dependency of a dependency, behind a marker this env lacks
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def _refused_modules() -> list[str]:
    """Top-level modules installed here that only extras (or the dev tools) provide."""
    closure = _base_closure()
    refused = []
    for module, dists in metadata.packages_distributions().items():
        names = {re.sub(r"[-_.]+", "-", d).lower() for d in dists}
        if not names & closure and module.isidentifier():
            refused.append(module)
    return sorted(refused)


GUARD = textwrap.dedent(
    """
    import importlib.abc, json, sys

    REFUSED = set(json.loads(sys.argv[1]))
    # Not installed at all, as in a base venv: find_spec() says None, import fails.
    for name in json.loads(sys.argv[2]):
        sys.modules[name] = None

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname.partition(".")[0] in REFUSED:
                raise ImportError(f"optional package {fullname!r} imported on a base path")
            return None

    sys.meta_path.insert(0, Refuse())
    sys.argv = ["benchctl", *sys.argv[3:]]
    from benchctl.cli.app import main
    main()
    """
)


def _run_guarded(
    *args: str,
    absent: list[str] | None = None,
    guard: str = GUARD,
    refused: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    refused = _refused_modules() if refused is None else refused
    return subprocess.run(
        [sys.executable, "-c", guard, json.dumps(refused), json.dumps(absent or []), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_guard_knows_the_optional_packages():
    refused = set(_refused_modules())
    # The proxy extra's packages are installed in the test venv when it has the extra; the dev
    # tools always are. Either way the guard must refuse something, or it checks nothing.
    assert "pytest" in refused
    assert {"pydantic", "typer", "psycopg", "yaml"}.isdisjoint(refused)
    for extra, modules in extras.EXTRA_MODULES.items():
        for module in modules:
            if module not in extras.missing(extra):
                assert module in refused


def test_guard_catches_an_optional_import():
    """The guard itself works: a module that imports pytest at load is refused."""
    importing_pytest = GUARD.replace("from benchctl.cli.app import main\nmain()", "import pytest")
    assert _run_guarded(guard=importing_pytest, refused=[]).returncode == 0
    done = _run_guarded(guard=importing_pytest, refused=["pytest"])
    assert done.returncode != 0
    assert "optional package 'pytest' imported on a base path" in done.stderr


def _command_names() -> list[str]:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    names = []
    for name, command in group.commands.items():
        names.append(name)
        if isinstance(command, typer.core.TyperGroup):
            names.extend(f"{name} {sub}" for sub in command.commands)
    return names


BASE_HELP = [[], ["--version"], *([*name.split(), "--help"] for name in _command_names())]


@pytest.mark.parametrize("args", BASE_HELP, ids=lambda a: " ".join(a) or "no-args")
def test_every_help_screen_needs_no_extra(args: list[str]):
    done = _run_guarded(*args)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 2), done.stderr  # typer exits 2 on a bare group
    expected = "benchctl 0.1.0" if args == ["--version"] else "Usage"
    assert expected in done.stdout + done.stderr


def test_validate_and_render_need_no_extra():
    done = _run_guarded("validate")
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout
    done = _run_guarded("render", "litellm-config")
    assert done.returncode == 0, done.stderr
    assert "model_list" in done.stdout


@pytest.mark.parametrize(
    ("command", "extra"), [("up", "proxy"), ("demo", "proxy"), ("serve", "serve")]
)
def test_commands_that_need_an_extra_say_so_in_one_line(command: str, extra: str):
    done = _run_guarded(command, absent=list(extras.EXTRA_MODULES[extra]))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"`benchctl {command}` needs the {extra} extra" in lines[0]
    assert f"pip install 'benchctl[{extra}]'" in lines[0]
