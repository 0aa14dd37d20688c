"""The one exception hierarchy of benchctl.

Every message is a sentence a user can act on: what went wrong, and what to do next.

    BenchctlError
    ├── UsageError          a command was called with arguments that cannot work
    ├── ManifestError       manifests failed validation; carries every Diagnostic found
    ├── DatabaseError       the benchmark database cannot be reached or is not at our schema
    ├── PlanError           the manifests ask for something reconciliation must refuse
    │   └── StalePlanError  a saved plan no longer matches the state it was made against
    ├── LockError           another apply holds the state lock (names the holder)
    ├── StackError          a part of the local stack (`benchctl up`) failed to start or stop
    ├── TaskError           a task card's workspace, setup, verifier or oracle cannot be run
    └── ProxyError          the LiteLLM proxy refused or could not be reached
        ├── ProxyUnavailable      nothing answers at the proxy URL
        ├── ProxyAuthError        the master key is missing or wrong
        ├── ProxyModelError       a model alias is not in the proxy's config
        └── ProxyEnterpriseOnly   the call needs a LiteLLM Enterprise licence

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


class DatabaseError(BenchctlError):
    """The benchmark database cannot be reached, or its schema is not the one we expect."""


class PlanError(BenchctlError):
    """The manifests ask for a change that reconciliation refuses (e.g. an impossible session)."""


class StalePlanError(PlanError):
    """A saved plan was made against a state that has changed since; plan again."""


class LockError(BenchctlError):
    """Another benchctl holds the state lock; the message names the holder and since when."""


class StackError(BenchctlError):
    """A part of the local stack failed to start or stop; names its log file and its last lines."""


class TaskError(BenchctlError):
    """A task card's folders, workspace, setup, verifier or oracle cannot be used as asked."""


class ProxyError(BenchctlError):
    """The LiteLLM proxy answered with an error, or did not answer."""


class ProxyUnavailable(ProxyError):
    """Nothing answers at the proxy URL (not started, wrong port, or down)."""


class ProxyAuthError(ProxyError):
    """The proxy rejected the master key."""


class ProxyModelError(ProxyError):
    """A model alias is not in the proxy's config (render and restart the proxy)."""


class ProxyEnterpriseOnly(ProxyError):
    """The call needs a LiteLLM Enterprise licence, which benchctl never requires."""
