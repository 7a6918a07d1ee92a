"""Rewind: take a FAILED instance back to before its failure, once the cause is fixed.

``checkout`` charges the card, then ships through the sub-orchestration ``ship``, which packs
the parcel and books a courier. While the courier's API is down, ``book_courier`` fails, so
``ship`` fails and ``checkout`` fails with it. Once the API is back, ``handle.rewind()`` (or
``durable rewind ID``) takes both back: ``book_courier`` runs again, while ``charge`` and
``pack``, which completed, do not (the ledger file counts their runs).
``handle.preview_rewind()`` (``durable rewind ID --dry-run --app MODULE:APP``) shows first what
the rewind would do, changing nothing. Run it with ``python samples/rewind.py``.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

import anyio

import durable

app = durable.App()


def _log(ledger: str, line: str) -> None:
    with Path(ledger).open("a") as runs:
        runs.write(line + "\n")


@app.activity
def charge(order_id: str, ledger: str) -> str:
    _log(ledger, f"charge {order_id}")
    return f"receipt-{order_id}"


@app.activity
def pack(order_id: str, ledger: str) -> str:
    _log(ledger, f"pack {order_id}")
    return f"parcel-{order_id}"


@app.activity(retry=durable.RetryPolicy(max_attempts=2, initial_interval=0.1))
def book_courier(parcel: str, api_up: str) -> str:
    if not Path(api_up).exists():
        raise ConnectionError("the courier's API is down")
    return f"courier booked for {parcel}"


@app.orchestrator
def ship(
    ctx: durable.OrchestrationContext, order_id: str, ledger: str, api_up: str
) -> Generator[durable.Task[Any], Any, str]:
    parcel = yield ctx.call_activity(pack, order_id, ledger)
    booking: str = yield ctx.call_activity(book_courier, parcel, api_up)
    return booking


@app.orchestrator
def checkout(
    ctx: durable.OrchestrationContext, order_id: str, ledger: str, api_up: str
) -> Generator[durable.Task[Any], Any, dict[str, str]]:
    receipt = yield ctx.call_activity(charge, order_id, ledger)
    booking = yield ctx.call_sub_orchestrator(
        ship, order_id, ledger, api_up, instance_id=f"{ctx.instance_id}-ship"
    )
    return {"receipt": receipt, "booking": booking}


def runs(ledger: str) -> list[str]:
    """The activity runs the ledger recorded."""
    path = Path(ledger)
    return path.read_text().splitlines() if path.exists() else []


async def main(store: str) -> None:
    folder = Path(tempfile.mkdtemp())
    ledger, api_up = str(folder / "ledger.txt"), str(folder / "api-up")
    async with durable.Worker(app, store), durable.Client(store, app=app) as client:
        handle = await client.start(checkout, "o-1", ledger, api_up, instance_id="order-o-1")
        try:
            await handle.result(timeout=30)
        except durable.OrchestrationFailed as exc:
            print(f"failed: {exc.message}")
        Path(api_up).touch()  # the courier's API is back
        preview = await handle.preview_rewind()
        print("a rewind would:", *preview.steps, sep="\n  ")
        await handle.rewind()
        print(await handle.result(timeout=30))
        print("runs:", runs(ledger))  # charge and pack ran once each


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/rewind.db"
    anyio.run(main, url)
