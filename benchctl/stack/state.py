"""What `benchctl up` started, recorded in ``.benchctl/stack/state.json``.

Each part records its pid together with the process's identity (start time and command line),
so that `down` and `status` never mistake a recycled pid for one of ours. The file also lets
``Settings.from_env`` find the local proxy, its master key and its database with no exports.
This module reads and writes files only: no processes, no network.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from benchctl.errors import StackError

STACK_DIR = "stack"
STATE_FILE = "state.json"
MASTER_KEY_FILE = "master.key"
STATE_VERSION = 1

# The order `up` starts parts in; `down` stops them in reverse. A part named `KIND-SUFFIX`
# (sim-openai, proxy-2) ranks with its kind.
PART_ORDER = ("postgres", "sim", "redis", "proxy", "prometheus")


def stack_dir(state_dir: Path) -> Path:
    return state_dir / STACK_DIR


def logs_dir(state_dir: Path) -> Path:
    return stack_dir(state_dir) / "logs"


class PartRecord(BaseModel):
    """One running part. ``pid`` is None for a part benchctl does not run (an external DB)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    url: str
    pid: int | None = None
    # Process identity at start: clock ticks since boot (or ps's lstart text) and argv.
    start_time: str | None = None
    cmdline: list[str] = Field(default_factory=list)
    port: int | None = None
    log_path: str | None = None
    # True when the part was already running before `up` (the embedded PostgreSQL another
    # command started); `down` stops it all the same.
    adopted: bool = False
    # Proxy: fingerprint of the config it was started with, that config's path, its database.
    config_fingerprint: str | None = None
    config_path: str | None = None
    database_url: str | None = None
    # Simulator: how much faster than real time it runs.
    speed: float | None = None


class StackState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = STATE_VERSION
    parts: dict[str, PartRecord] = Field(default_factory=dict)

    def ordered(self) -> list[PartRecord]:
        return sorted(self.parts.values(), key=_rank)

    def proxies(self) -> list[PartRecord]:
        """The proxy instances, first instance first."""
        return sorted((p for p in self.parts.values() if part_kind(p.name) == "proxy"), key=_rank)


def part_kind(name: str) -> str:
    return name.partition("-")[0]


def _rank(part: PartRecord) -> tuple[int, int, str]:
    kind, _, suffix = part.name.partition("-")
    rank = PART_ORDER.index(kind) if kind in PART_ORDER else len(PART_ORDER)
    # proxy, proxy-2, ..., proxy-10 in numeric order.
    return (rank, int(suffix) if suffix.isdigit() else 0, part.name)


def state_path(state_dir: Path) -> Path:
    return stack_dir(state_dir) / STATE_FILE


def load_state(state_dir: Path) -> StackState:
    """The recorded stack; empty when nothing was started (or `down` cleared it)."""
    path = state_path(state_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return StackState()
    except OSError as exc:
        raise StackError(f"cannot read {path}: {exc.strerror}.") from None
    try:
        return StackState.model_validate_json(text)
    except ValidationError:
        raise StackError(
            f"{path} is not a benchctl stack state file: stop leftover processes by hand"
            " (see `benchctl status`) and delete it."
        ) from None


def save_state(state_dir: Path, state: StackState) -> None:
    """Written atomically, 0600: it holds LiteLLM's database URL, which may carry a password."""
    path = state_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(state.model_dump_json(indent=2) + "\n")
    tmp.replace(path)


def clear_state(state_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        state_path(state_dir).unlink()


def master_key(state_dir: Path, *, create: bool) -> str | None:
    """The local proxy's master key: generated once, stored 0600, never printed.

    LiteLLM requires master keys to start with ``sk-``.
    """
    path = stack_dir(state_dir) / MASTER_KEY_FILE
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        if not create:
            return None
    path.parent.mkdir(parents=True, exist_ok=True)
    key = f"sk-benchctl-{secrets.token_urlsafe(32)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key
