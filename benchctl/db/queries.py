"""Named SQL queries, kept in ``queries/*.sql`` rather than in strings across the code.

A file holds several queries, each introduced by a line ``-- name: <file>.<query>``; the text up
to the next such line is the query. Placeholders are psycopg's (``%(name)s``); ``{table}``-style
fields are filled with ``psycopg.sql.Identifier`` through ``query(...).format(...)``.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

from psycopg import sql

_NAME = re.compile(r"^-- name: ([a-z_]+\.[a-z_]+)\s*$", re.MULTILINE)


@functools.cache
def _all() -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in sorted(resources.files("benchctl.db").joinpath("queries").iterdir(), key=str):
        if not entry.name.endswith(".sql"):
            continue
        parts = _NAME.split(entry.read_text(encoding="utf-8"))
        for name, text in zip(parts[1::2], parts[2::2], strict=True):
            if not name.startswith(entry.name.removesuffix(".sql") + "."):
                raise RuntimeError(f"query {name} must be named after its file {entry.name}")
            found[name] = text.strip()
    return found


def query(name: str) -> sql.SQL:
    """The query called ``name``; a KeyError means a typo in the code, not a user error."""
    # The text comes from files shipped in the package, never from input.
    return sql.SQL(_all()[name])
