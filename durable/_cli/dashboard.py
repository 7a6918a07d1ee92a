"""``durable dashboard``: serve the local web page and JSON API over a store (DESIGN 7a).

The server (``durable.dashboard``: Starlette and uvicorn, the ``dashboard`` extra) is imported
when the command runs, so ``durable --help`` never loads it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .common import StoreOption, fail, reported, store_url

TOKEN_ENV = "DURABLE_DASHBOARD_TOKEN"  # noqa: S105 (the variable's name)


def dashboard(
    store: StoreOption = None,
    host: Annotated[
        str, typer.Option(help="The address to listen on (another than 127.0.0.1 needs --token).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="The port to listen on.")] = 8233,
    token: Annotated[
        str | None,
        typer.Option(
            envvar=TOKEN_ENV,
            help="Require 'Authorization: Bearer TOKEN' on every request (a browser opens "
            "/?token=TOKEN once).",
        ),
    ] = None,
) -> None:
    """Serve the dashboard: instances, their flow and history, workers; and the JSON API."""
    url = store_url(store)
    with reported():
        try:
            from ..dashboard import serve
        except ImportError as exc:
            fail(f"the dashboard needs its extra: pip install 'durable[dashboard]' ({exc})")
        typer.echo(f"durable dashboard on http://{host}:{port}/ (Ctrl+C stops it)", err=True)
        serve(url, host=host, port=port, token=token or None)
