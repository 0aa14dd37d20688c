"""The one exception hierarchy of benchctl.

Every message is a sentence a user can act on: what went wrong, and what to do next.

    BenchctlError
    ├── UsageError          a command was called with arguments that cannot work
    └── ManifestError       manifests failed validation; carries every Diagnostic found

The CLI catches ``BenchctlError`` and prints it without a traceback; anything else is a bug.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchctl.manifests.diagnostics import Diagnostic


class BenchctlError(Exception):
    """Base class of every error benchctl raises on purpose."""

    exit_code = 1


class UsageError(BenchctlError):
    """Arguments or environment that cannot work, e.g. a path that does not exist."""

    exit_code = 2


class ManifestError(BenchctlError):
    """Manifests are invalid; ``diagnostics`` holds every problem found, not just the first."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        count = sum(1 for d in self.diagnostics if d.severity == "error")
        super().__init__(
            f"{count} manifest error(s); run `benchctl validate` for the full list with locations."
        )
