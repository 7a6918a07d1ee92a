"""``durable workers``: the live workers and what they serve (DESIGN 7); and the warning
``durable start`` prints when no live worker serves the orchestrator it started."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from .common import JsonOption, StoreOption, print_json, show, with_client

if TYPE_CHECKING:
    from rich.table import Table

    from .._client import Client
    from ..stores.workers import WorkerInfo


def workers(store: StoreOption = None, as_json: JsonOption = False) -> None:
    """List the live workers: id, host, pid, queues, what they run, last seen."""
    found: list[WorkerInfo] = with_client(store, lambda client: client.workers())
    if as_json:
        print_json([worker.to_json() for worker in found])
    elif found:
        show(_table(found))
    else:
        typer.echo("no live worker", err=True)


def _table(found: list[WorkerInfo]) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in ("worker", "host", "pid", "queues", "orchestrators", "activities", "seen"):
        table.add_column(column)
    for worker in found:
        seen = worker.last_seen_at.strftime("%H:%M:%S") if worker.last_seen_at else ""
        table.add_row(
            worker.worker_id,
            worker.host,
            str(worker.pid),
            ",".join(worker.queues),
            ",".join(worker.orchestrators) or "-",
            ",".join(worker.activities) or "-",
            seen,
        )
    return table


#: how long ``durable start`` waits for a worker that serves the orchestrator before it warns
#: (a worker started in the same breath needs a moment to announce itself)
START_GRACE = 5.0


async def warn_if_unserved(client: Client, name: str) -> None:
    """One line on stderr when no live worker serves orchestrator ``name`` (checked again for
    up to ``START_GRACE`` seconds)."""
    import anyio

    from .._worker.announce import unserved

    with anyio.move_on_after(START_GRACE):
        while True:
            warning = await unserved(client.store, name)
            if warning is None:
                return
            await anyio.sleep(0.1)
    typer.echo(f"warning: {warning}", err=True)
