"""Versioned schema migrations: ``migrations/NNNN_name.sql``, applied in order, each once.

Each applied migration is recorded with the SHA-256 of its text, so a migration edited after it
was applied somewhere is caught instead of silently diverging.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from benchctl.db.queries import query
from benchctl.errors import DatabaseError


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def available() -> list[Migration]:
    found = []
    for entry in resources.files("benchctl.db").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            number, _, name = entry.name.removesuffix(".sql").partition("_")
            found.append(Migration(int(number), name, entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def pending(conn: psycopg.Connection[Any]) -> list[Migration]:
    """Migrations not yet applied; raises if the database is ahead of or diverged from ours."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(query("migrations.table_exists")).fetchone()
        if row is None or not row[0]:
            return available()
        applied = {row[0]: row for row in cur.execute(query("migrations.applied"))}
    known = {m.version: m for m in available()}
    for version, name, checksum in applied.values():
        if version not in known:
            raise DatabaseError(
                f"the database has schema migration {version:04d}_{name}, which this benchctl"
                " does not know: it was upgraded by a newer benchctl. Upgrade benchctl."
            )
        if known[version].checksum != checksum:
            raise DatabaseError(
                f"schema migration {version:04d}_{name} differs from the one applied to this"
                " database; migrations must never be edited once released."
            )
    return [m for m in known.values() if m.version not in applied]


def upgrade(conn: psycopg.Connection[Any]) -> list[Migration]:
    """Apply every pending migration, each in its own transaction; return those applied."""
    done: list[Migration] = []
    while True:
        with conn.transaction():
            conn.execute(query("migrations.lock"))
            conn.execute(query("migrations.ensure_table"))
            todo = pending(conn)
            if not todo:
                return done
            migration = todo[0]
            conn.execute(migration.text)
            conn.execute(
                query("migrations.record"),
                {
                    "version": migration.version,
                    "name": migration.name,
                    "checksum": migration.checksum,
                },
            )
            done.append(migration)
