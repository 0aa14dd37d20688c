from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchctl.cli.app import app

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_cli():
    """Run benchctl in-process through typer's runner, the way a user's shell would."""
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None):
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)

    return run
