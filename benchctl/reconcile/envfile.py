"""A session's env snippet: the harness profile rendered with the session's key, in a 0600 file.

The raw key lives only in this file (under the git-ignored ``.benchctl/``) and in the
operator's shell; the database keeps its hash. Re-rendering finds the key again by hashing the
file's values, so no separate key store exists.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchctl.litellm.client import hash_key
from benchctl.manifests.models import HarnessProfile, Provider, TaskCard, Variant
from benchctl.manifests.templates import RenderedHarness, render, resolved_settings
from benchctl.render.text import one_line


@dataclass(frozen=True)
class SessionInfo:
    id: str
    key_alias: str
    experiment: str
    replicate: int


@dataclass(frozen=True)
class SessionManifests:
    variant: Variant
    provider: Provider
    harness_profile: HarnessProfile
    task_card: TaskCard

    @classmethod
    def from_documents(cls, documents: dict[str, Any]) -> SessionManifests:
        return cls(
            variant=Variant.model_validate(documents["variant"]),
            provider=Provider.model_validate(documents["provider"]),
            harness_profile=HarnessProfile.model_validate(documents["harness_profile"]),
            task_card=TaskCard.model_validate(documents["task_card"]),
        )


def env_path(sessions_dir: Path, session_id: str) -> Path:
    return sessions_dir / f"{session_id}.env"


def context(
    session: SessionInfo, manifests: SessionManifests, *, key: str, proxy_url: str, env_file: Path
) -> dict[str, dict[str, Any]]:
    variant, task = manifests.variant, manifests.task_card
    return {
        "proxy": {"url": proxy_url},
        "session": {
            "id": session.id,
            "key": key,
            "key_alias": session.key_alias,
            "experiment": session.experiment,
            "replicate": session.replicate,
            "env_file": str(env_file),
        },
        "variant": {
            "name": variant.metadata.name,
            # The proxy config has one model alias per variant, named after it.
            "model_alias": variant.metadata.name,
            "model": variant.spec.model,
            "provider": variant.spec.provider,
            "route": manifests.provider.spec.route,
            "settings": resolved_settings(manifests.harness_profile, variant.spec.harness_settings),
            "request": variant.spec.request.model_dump(mode="json", exclude_none=True),
        },
        "task_card": {
            "name": task.metadata.name,
            "title": task.spec.title,
            # A task in a folder of the benchmark repository has no url or commit of its own.
            "repository_url": task.spec.repository.url if task.spec.repository else "",
            "commit": task.spec.repository.commit if task.spec.repository else "",
            "workspace": task.spec.workspace or "",
            "timebox": task.spec.timebox,
            "instructions": task.spec.instructions,
        },
    }


def render_session(
    session: SessionInfo, manifests: SessionManifests, *, key: str, proxy_url: str, env_file: Path
) -> RenderedHarness:
    values = context(session, manifests, key=key, proxy_url=proxy_url, env_file=env_file)
    return render(manifests.harness_profile, values)


def snippet(session: SessionInfo, manifests: SessionManifests, rendered: RenderedHarness) -> str:
    lines = [
        "# benchctl session env: holds a live proxy key. Never commit or paste it.",
        f"# session {session.id} ({session.experiment} #{session.replicate})",
        f"# variant {manifests.variant.metadata.name}, task card"
        f" {manifests.task_card.metadata.name}",
        # One comment line whatever the command holds: a newline would end the comment and
        # make the rest a command that `source` runs.
        f"# launch: {one_line(rendered.command)}",
        f"export BENCHCTL_SESSION_ID={shlex.quote(session.id)}",
    ]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in rendered.env.items()]
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` with mode 0600 from the first byte, replacing ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".env")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def key_from_file(path: Path, key_hash: str | None) -> str | None:
    """The raw key in a session's env file, recognised by its hash; None if gone or replaced."""
    if key_hash is None or not path.is_file():
        return None
    # The whole file at once: quoted values (task instructions) may span lines.
    for word in shlex.split(path.read_text(encoding="utf-8"), comments=True):
        value = word.partition("=")[2]
        if value and hash_key(value) == key_hash:
            return value
    return None
