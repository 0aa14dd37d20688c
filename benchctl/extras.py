"""Optional parts of benchctl and the extras that install them.

The base install (`pip install benchctl`) runs every command that needs no extra. Commands that
do (`up`, `demo`, `serve`) call :func:`require` before importing anything optional, so a missing
package is one line naming the extra to install, never a traceback from deep inside an import.
"""

from __future__ import annotations

import importlib.util

from benchctl.errors import UsageError

# What each extra installs that benchctl imports or runs (a distribution may hold several).
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "proxy": ("litellm", "prisma", "openai", "anthropic"),
    "serve": ("fastapi", "uvicorn", "psycopg_pool"),
}


class MissingExtraError(UsageError):
    """A command needs an optional package that this install does not have."""


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` this interpreter cannot import."""
    return [name for name in EXTRA_MODULES[extra] if importlib.util.find_spec(name) is None]


def require(extra: str, command: str) -> None:
    """Raise :class:`MissingExtraError` unless every module of ``extra`` is installed."""
    absent = missing(extra)
    if absent:
        raise MissingExtraError(
            f"`benchctl {command}` needs the {extra} extra ({', '.join(absent)} not installed):"
            f" pip install 'benchctl[{extra}]' (in a checkout: pip install -e '.[{extra}]')."
        )
