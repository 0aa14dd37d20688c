"""How ``benchctl serve`` was asked to run, checked before anything listens."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from benchctl.errors import UsageError
from benchctl.settings import Settings

TOKEN_ENV = "BENCHCTL_SERVE_TOKEN"  # noqa: S105 the variable's name, not a secret
# Long enough that guessing it over HTTP is hopeless.
MIN_TOKEN = 16
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeConfig:
    settings: Settings
    host: str = "127.0.0.1"
    port: int = 8080
    # None: no token asked (loopback only). Checked on every request when set.
    token: str | None = None
    show_content: bool = False
    # Seconds between two looks at the database while streaming a run's progress.
    poll_s: float = 1.0
    # Build every experiment's report as the server starts, before the first visitor asks.
    warm: bool = True

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def load_token(host: str) -> str | None:
    """The token from the environment: required off loopback, and never too short."""
    token = os.environ.get(TOKEN_ENV) or None
    if token is None and not is_loopback(host):
        raise UsageError(
            f"--host {host} would let other machines read the benchmark database: set"
            f" {TOKEN_ENV} to a secret of at least {MIN_TOKEN} characters (e.g. `export"
            f" {TOKEN_ENV}=$(python -c 'import secrets; print(secrets.token_urlsafe(24))')`);"
            " every request must then carry it."
        )
    if token is not None and len(token) < MIN_TOKEN:
        raise UsageError(
            f"{TOKEN_ENV} is {len(token)} characters long; use at least {MIN_TOKEN} (e.g."
            " `python -c 'import secrets; print(secrets.token_urlsafe(24))'`)."
        )
    return token
