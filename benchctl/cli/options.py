"""Options several commands share, spelled and documented once."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from benchctl.errors import UsageError

Root = Annotated[
    Path,
    typer.Option(
        "--root",
        help="Repository root: manifests are read from it and local state lives in its"
        " .benchctl/ folder.",
        file_okay=False,
    ),
]

LockTimeout = Annotated[
    str,
    typer.Option(
        "--lock-timeout",
        help="How long to wait for another apply's state lock, e.g. 30s or 5m."
        " Default: fail at once, naming the holder.",
    ),
]


def seconds(value: str, option: str) -> float:
    """``30s``/``5m``/``1h`` or a bare number of seconds."""
    # Imported here: the manifest models load pydantic, and every command imports this module.
    from benchctl.manifests.models.common import DURATION_PATTERN, duration_seconds

    if value.isdigit():
        return float(value)
    if not re.fullmatch(DURATION_PATTERN, value):
        raise UsageError(f"{option} {value!r} is not a duration; write e.g. 30s, 5m or 1h.")
    return float(duration_seconds(value))


class Sandbox(StrEnum):
    auto = "auto"
    bwrap = "bwrap"
    none = "none"


SandboxOption = Annotated[
    Sandbox,
    typer.Option(
        "--sandbox",
        help="Run setup, verifiers and oracles under bubblewrap: auto uses it when installed,"
        " bwrap requires it, none never does.",
    ),
]
