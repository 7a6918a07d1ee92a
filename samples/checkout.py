"""The checkout of DESIGN section 1, run end to end on an embedded SQLite file.

Run it with ``make demo`` (or ``python samples/checkout.py``). Kill it at any point and run it
again: the instance resumes from its history where it was, no step that finished runs twice.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import anyio

import durable

app = durable.App()
log = logging.getLogger(__name__)  # under `durable worker`, these lines join the worker's log


@app.activity(retry=durable.RetryPolicy(max_attempts=5, initial_interval=timedelta(seconds=1)))
async def charge(order_id: str, cents: int) -> str:
    log.info("charging %d cents for %s", cents, order_id)
    return f"receipt-{order_id}"


@app.activity
def pack(item: int) -> str:  # a sync activity: runs in a worker thread
    log.info("packing item %d", item)
    return f"box-{item}"


@app.orchestrator
def ship(
    ctx: durable.OrchestrationContext, order_id: str, boxes: list[str]
) -> Generator[durable.Task[Any], Any, str]:
    yield ctx.sleep(timedelta(milliseconds=200))
    return f"track-{order_id}-{len(boxes)}"


@app.orchestrator
def checkout(
    ctx: durable.OrchestrationContext, order: dict[str, Any]
) -> Generator[durable.Task[Any], Any, dict[str, Any]]:
    receipt = yield ctx.call_activity(charge, order["id"], order["cents"])
    yield ctx.sleep(timedelta(seconds=1))  # durable timer: survives restarts
    approved = yield ctx.wait_for_event("approved", timeout=timedelta(days=2))
    if not approved:
        return {"receipt": receipt, "shipped": False}
    boxes = yield ctx.when_all([ctx.call_activity(pack, item) for item in order["items"]])
    ctx.set_custom_status({"stage": "shipping"})
    tracking = yield ctx.call_sub_orchestrator(ship, order["id"], boxes)
    return {"receipt": receipt, "boxes": boxes, "tracking": tracking}


async def main(store: str) -> None:
    async with durable.Client(store, app=app) as client, durable.Worker(app, store):
        order = {"id": "o-1", "cents": 500, "items": [1, 2]}
        handle = await client.start(checkout, order, instance_id="order-o-1", if_exists="return")
        print(f"started {handle.instance_id}")
        if not (await handle.status()).status.is_terminal:  # a second run finds it finished
            await handle.raise_event("approved", True)
        print("result:", await handle.result(timeout=60))
        for event in await handle.history():
            print(f"  {event.seq:>3} {event.kind}")


if __name__ == "__main__":
    # This program tells its own story: its activities' lines, indented, and not durable's log.
    logging.basicConfig(level=logging.INFO, format="  %(message)s", stream=sys.stdout)
    logging.getLogger("durable").setLevel(logging.CRITICAL)
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "sqlite:///shop.db")
