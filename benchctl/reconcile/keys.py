"""Issuing a session's key: scoped to its variant's alias, recorded by hash, shown via a file.

Shared by apply (open, re-key on drift) and ``benchctl session rotate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchctl.db.connection import Connection
from benchctl.db.queries import query
from benchctl.litellm.client import LiteLLMClient
from benchctl.manifests.templates import RenderedHarness
from benchctl.reconcile import failpoints
from benchctl.reconcile.envfile import (
    SessionInfo,
    SessionManifests,
    env_path,
    render_session,
    snippet,
    write_private,
)
from benchctl.settings import Settings


@dataclass(frozen=True)
class KeyRequest:
    session: SessionInfo
    variant_version: int | None
    task_card_version: int | None
    ttl_seconds: int
    budget_usd: float


@dataclass(frozen=True)
class IssuedKey:
    session_id: str
    env_file: Path
    # The harness profile rendered with the new key: what the env file holds.
    rendered: RenderedHarness

    @property
    def command(self) -> str:
        return self.rendered.command


def issue_key(
    conn: Connection,
    client: LiteLLMClient,
    settings: Settings,
    request: KeyRequest,
    manifests: SessionManifests,
    step: str,
) -> IssuedKey:
    """Generate the key, write the env file, then record the hash: in that order, so a crash
    leaves either an unrecorded key (replaced on resume) or a recorded one with its file."""
    assert settings.proxy_url is not None
    session = request.session
    variant, task_card = manifests.variant.metadata.name, manifests.task_card.metadata.name
    key = client.generate_key(
        alias=session.key_alias,
        models=[variant],
        duration_seconds=request.ttl_seconds,
        max_budget=request.budget_usd,
        metadata={
            "benchctl": {
                "session_id": session.id,
                "experiment": session.experiment,
                "variant": variant,
                "variant_version": request.variant_version,
                "task_card": task_card,
                "task_card_version": request.task_card_version,
                "replicate": session.replicate,
            },
            # Key `tags` are enterprise-only in LiteLLM; metadata.tags reach the spend logs.
            "tags": [
                "benchctl",
                f"experiment:{session.experiment}",
                f"variant:{variant}",
                f"task_card:{task_card}",
                f"session:{session.id}",
            ],
        },
    )
    failpoints.reached(f"{step}.key_created")
    path = env_path(settings.sessions_dir, session.id)
    rendered = render_session(
        session,
        manifests,
        key=key.key,
        proxy_url=settings.session_proxy_url(session.id),
        env_file=path,
    )
    write_private(path, snippet(session, manifests, rendered))
    failpoints.reached(f"{step}.env_written")
    conn.execute(
        query("sessions.mark_open"),
        {"id": session.id, "key_hash": key.token, "expires": key.expires},
    )
    failpoints.reached(f"{step}.recorded")
    return IssuedKey(session.id, path, rendered)
