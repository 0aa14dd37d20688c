"""``benchctl serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from benchctl.cli.options import Root

# Core modules and the serve extra are imported where used: every command, even --help, imports
# this module.


def serve(
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on. Anything but loopback needs BENCHCTL_SERVE_TOKEN.",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")
    ] = 8080,
    show_content: Annotated[
        bool,
        typer.Option(
            "--show-content",
            help="Show captured prompts and responses (only experiments that capture have any).",
        ),
    ] = False,
    root: Root = Path(),
) -> None:
    """Serve a read-only JSON API and a web viewer over the benchmark database.

    The viewer goes from the experiments to an experiment's comparison (the report, its
    charts), to its sessions (filtered, paged), to a session (its calls on a time line, run
    logs, verifier results), and follows headless runs live. The API (`/api/v1`, OpenAPI at
    `/api/v1/openapi.json`) answers with the report's figures and field names. Nothing can be
    changed through it: benchmarks change through pull requests and `benchctl apply`, runs
    through `benchctl run`.

    It listens on loopback by default. To listen elsewhere, set BENCHCTL_SERVE_TOKEN (16
    characters or more); every request must then carry it, as `Authorization: Bearer TOKEN`
    from tools, or through the sign-in page in a browser. Needs the serve extra.

    Examples:

      benchctl serve                        # http://127.0.0.1:8080/

      benchctl serve --port 9000

      BENCHCTL_SERVE_TOKEN=... benchctl serve --host 0.0.0.0
    """
    from benchctl import extras

    extras.require("serve", "serve")
    import uvicorn

    from benchctl.serve.app import check_database, create_app
    from benchctl.serve.config import ServeConfig, load_token
    from benchctl.settings import Settings

    config = ServeConfig(
        settings=Settings.from_env(root),
        host=host,
        port=port,
        token=load_token(host),
        show_content=show_content,
    )
    check_database(config)  # a database that cannot serve is one line here, not a traceback
    app = create_app(config)
    shown = f"[{host}]" if ":" in host else host
    where = "" if config.loopback else " (token required)"
    typer.echo(f"benchctl serve: http://{shown}:{port}/{where}; Ctrl-C stops it.", err=True)
    # A live page holds its event stream open: a stop waits for it only this long.
    uvicorn.run(
        app, host=host, port=port, log_level="warning", access_log=False,
        timeout_graceful_shutdown=3,
    )  # fmt: skip
