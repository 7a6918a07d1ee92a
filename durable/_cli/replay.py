"""``durable replay MODULE:APP (--store URL [--id ID | --name NAME] | FILE)``: before a deploy.

Replays recorded histories (from a store, or a ``durable export`` file) against the code of
MODULE:APP and lists every instance that would raise ``NonDeterminismError``, with the message;
exit status 1 when there is one, 0 when every history replays. Nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .common import StoreOption, fail, plural, progress, reported, store_url

if TYPE_CHECKING:  # loaded when the command runs, not for --help
    from ..testing.replay import ReplayReport


def replay(
    app_spec: Annotated[
        str, typer.Argument(metavar="MODULE:APP", help="Where the durable.App is, e.g. shop:app.")
    ],
    file: Annotated[
        Path | None,
        typer.Argument(metavar="[FILE]", help="A `durable export` file to replay (JSON lines)."),
    ] = None,
    store: StoreOption = None,
    instance_id: Annotated[
        list[str] | None,
        typer.Option("--id", metavar="ID", help="Replay this instance only (repeatable)."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", metavar="NAME", help="Replay instances of this orchestrator only."),
    ] = None,
) -> None:
    """Replay recorded histories (from --store, or FILE) against MODULE:APP's code; exit 1
    listing every instance that would fail (NonDeterminismError), before a deploy."""
    with reported():
        if file is None and store is None:
            fail("replay: give --store URL or FILE (a `durable export` file)")
        # a FILE wins over --store (which may come from DURABLE_STORE)
        source: str | Path = file if file is not None else store_url(store)
        report = _run(app_spec, source, instance_id, name)
    if not report.ok:
        for failure in report.failures:
            typer.echo(f"FAIL {failure.instance_id} ({failure.name}): {failure.error}")
        typer.echo(
            f"{plural(len(report.failures), 'instance')} of {report.replayed} would fail to "
            "replay with this code",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"ok: {plural(report.replayed, 'history', 'histories')} replayed, no failures")


def _run(
    app_spec: str, source: str | Path, ids: list[str] | None, name: str | None
) -> ReplayReport:
    import anyio

    from ..testing.replay import replay as replay_histories
    from .serving import load_app

    app = load_app(app_spec)

    async def go() -> ReplayReport:
        with progress(total_known=False) as bar:
            task = bar.add_task("replaying", total=None)
            return await replay_histories(
                app,
                source,
                ids=ids or None,
                name=name,
                progress=lambda done: bar.update(task, completed=done),
            )

    return anyio.run(go)
