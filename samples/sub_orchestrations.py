"""Sub-orchestrations: a parent starts one child orchestration per warehouse and collects them.

A child is a full orchestration with its own instance id, history and status. The parent creates
all the children first (they run concurrently), then yields each one; a child that fails raises
``OrchestrationFailed`` at that ``yield``, so the parent can handle one failure and keep the other
results. Run it with ``python samples/sub_orchestrations.py``.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import anyio

import durable

app = durable.App()


class NoCarrier(Exception):
    pass


@app.activity
async def print_label(warehouse: str, items: list[str]) -> str:
    return f"label-{warehouse}-{len(items)}"


@app.activity(
    retry=durable.RetryPolicy(max_attempts=2, initial_interval=timedelta(milliseconds=50))
)
async def hand_to_carrier(warehouse: str, label: str) -> str:
    if warehouse == "reykjavik":
        raise NoCarrier(f"no carrier collects from {warehouse} today")
    return f"track-{label}"


@app.orchestrator
def ship_parcel(
    ctx: durable.OrchestrationContext, warehouse: str, items: list[str]
) -> Generator[durable.Task[Any], Any, str]:
    label = yield ctx.call_activity(print_label, warehouse, items)
    tracking: str = yield ctx.call_activity(hand_to_carrier, warehouse, label)
    return tracking


@app.orchestrator
def fulfil(
    ctx: durable.OrchestrationContext, order: dict[str, list[str]]
) -> Generator[durable.Task[Any], Any, dict[str, str]]:
    children = {
        warehouse: ctx.call_sub_orchestrator(
            ship_parcel, warehouse, items, instance_id=f"{ctx.instance_id}-{warehouse}"
        )
        for warehouse, items in sorted(order.items())
    }
    shipped: dict[str, str] = {}
    for warehouse, child in children.items():
        try:
            shipped[warehouse] = yield child
        except durable.OrchestrationFailed as failure:
            shipped[warehouse] = f"not shipped ({failure.error_type})"
    return shipped


async def main(store: str) -> None:
    async with durable.Client(store, app=app) as client, durable.Worker(app, store):
        order = {"lyon": ["mug", "tea"], "oslo": ["scarf"], "reykjavik": ["boots"]}
        handle = await client.start(fulfil, order, instance_id="order-42")
        result = await handle.result(timeout=30)
        for child in sorted(await client.list(name="ship_parcel"), key=lambda s: s.instance_id):
            print(f"  {child.instance_id}: {child.status} {child.output or child.error}")
        print(f"result: {result}")


if __name__ == "__main__":
    logging.getLogger("durable").setLevel(logging.CRITICAL)  # this program prints its own story
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp}/children.db")
