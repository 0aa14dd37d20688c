"""``benchctl render``: files generated from the manifests for the components around benchctl."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from benchctl.errors import UsageError
from benchctl.litellm import DEFAULT_BATCH_WRITE_SECONDS

# Core modules are imported where used: every command, even --help, imports this module.

render_app = typer.Typer(
    help="Render files for the components around benchctl from the manifests.",
    no_args_is_help=True,
)


def _api_bases(pairs: list[str], providers: set[str]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for pair in pairs:
        name, sep, url = pair.partition("=")
        if not sep or not name or not url:
            raise UsageError(
                f"--api-base {pair!r} is not PROVIDER=URL, e.g. sim=http://127.0.0.1:8799/v1."
            )
        if name not in providers:
            known = ", ".join(sorted(providers))
            raise UsageError(
                f"--api-base names provider {name!r}, which is not defined; known: {known}."
            )
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--api-base {name}: {url!r} is not an http(s) URL.")
        overrides[name] = url
    return overrides


@render_app.command("litellm-config")
def litellm_config(
    root: Annotated[
        Path,
        typer.Option("--root", help="Repository whose manifests are rendered.", file_okay=False),
    ] = Path(),
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the config to this file instead of standard output.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    api_base: Annotated[
        list[str] | None,
        typer.Option(
            "--api-base",
            metavar="PROVIDER=URL",
            help="Send a provider's traffic to URL instead of its manifest's api_base"
            " (repeatable), e.g. sim=http://127.0.0.1:8799/v1.",
            show_default=False,
        ),
    ] = None,
    batch_write_interval: Annotated[
        int,
        typer.Option(
            "--batch-write-interval",
            metavar="SECONDS",
            min=1,
            help="LiteLLM's proxy_batch_write_at: how long spend-log rows wait before they are"
            " written to its database, where the collector reads them.",
        ),
    ] = DEFAULT_BATCH_WRITE_SECONDS,
    redis: Annotated[
        bool,
        typer.Option(
            "--redis",
            help="Add LiteLLM's settings for several proxy instances on one database sharing a"
            " Redis (REDIS_HOST and REDIS_PORT in each instance's environment): one budget per"
            " key across instances, spend writes through a Redis buffer, a 5 s key cache.",
        ),
    ] = False,
) -> None:
    """Render the LiteLLM proxy config: one model alias per variant, named after it.

    Provider keys, the master key and the database URL appear as os.environ/NAME references,
    never as values. Restart the proxy after rendering a changed config.

    Examples:

      benchctl render litellm-config --out litellm.yaml

      benchctl render litellm-config --api-base sim=http://127.0.0.1:9000/v1

      benchctl render litellm-config --redis --out litellm.yaml   # for replicas
    """
    from benchctl.litellm.config import (
        config_fingerprint,
        dump_config,
        render_config,
        with_redis,
    )
    from benchctl.manifests.loader import load_valid_repository

    repository = load_valid_repository(root)
    overrides = _api_bases(api_base or [], set(repository.providers))
    config = render_config(
        repository, api_base_overrides=overrides, batch_write_seconds=batch_write_interval
    )
    if redis:
        config = with_redis(config)
    text = dump_config(config)
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror}; check the path.") from None
    typer.echo(
        f"wrote {out}: {len(config['model_list'])} model aliases,"
        f" fingerprint {config_fingerprint(config)}",
        err=True,
    )
