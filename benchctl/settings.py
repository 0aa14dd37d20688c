"""Where benchctl finds its database, its proxy and its local state: environment first.

Nothing here comes from manifests: manifests are reviewed in pull requests and must not be able
to point benchctl at another database or proxy, nor carry the proxy's master key. What the
environment leaves unset comes from the local stack `benchctl up` started, if any, so that
commands work after `up` with no exports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STATE_DIR = ".benchctl"


@dataclass(frozen=True)
class Settings:
    root: Path
    database_url: str | None
    proxy_url: str | None
    proxy_master_key: str | None = None
    # LiteLLM's own database: the collector's fast path around the spend-logs API's limits.
    litellm_database_url: str | None = None
    prometheus_url: str | None = None

    @property
    def state_dir(self) -> Path:
        """Git-ignored folder for the embedded database, logs, PIDs and session env files."""
        return self.root / STATE_DIR

    @property
    def sessions_dir(self) -> Path:
        return self.state_dir / "sessions"

    @classmethod
    def local(cls, root: Path) -> Settings:
        """Only what the local stack under ``root`` provides (`benchctl up`), whatever the
        environment says; its embedded database is the default, so it needs no URL."""
        # Imported here: the stack package builds on Settings.
        from benchctl.stack.state import load_state, master_key

        parts = load_state(root / STATE_DIR).parts
        proxy, prometheus = parts.get("proxy"), parts.get("prometheus")
        return cls(
            root=root,
            database_url=None,
            proxy_url=proxy.url if proxy else None,
            proxy_master_key=master_key(root / STATE_DIR, create=False) if proxy else None,
            litellm_database_url=proxy.database_url if proxy else None,
            prometheus_url=prometheus.url if prometheus else None,
        )

    @classmethod
    def from_env(cls, root: Path) -> Settings:
        local = cls.local(root)
        proxy_url = (os.environ.get("BENCHCTL_PROXY_URL") or "").rstrip("/") or None
        master = os.environ.get("BENCHCTL_PROXY_MASTER_KEY") or os.environ.get("LITELLM_MASTER_KEY")
        if proxy_url is None:
            proxy_url = local.proxy_url
            # The stack's key goes only with the stack's proxy, never to a proxy named by env.
            master = master or local.proxy_master_key
        return cls(
            root=root,
            database_url=os.environ.get("BENCHCTL_DATABASE_URL") or None,
            proxy_url=proxy_url,
            proxy_master_key=master or None,
            litellm_database_url=os.environ.get("BENCHCTL_LITELLM_DATABASE_URL")
            or local.litellm_database_url,
            prometheus_url=(os.environ.get("BENCHCTL_PROMETHEUS_URL") or "").rstrip("/")
            or local.prometheus_url,
        )
