"""Saga: book a flight, a hotel and a car; if a step fails, undo the steps already done.

Each booking that succeeds pushes its compensation on a stack. When a later activity fails for
good, ``ActivityFailed`` is raised at its ``yield``, and the ``except`` block runs the
compensations in reverse order, as durable activities themselves. Run it with
``python samples/saga.py``.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Callable, Generator
from typing import Any

import anyio

import durable

app = durable.App()
log = logging.getLogger(__name__)  # under `durable worker`, these lines join the worker's log


class SoldOut(Exception):
    """No retry can help: the policy below lists it as non-retryable."""


@app.activity
async def book_flight(city: str) -> str:
    return f"flight-{city}"


@app.activity
async def book_hotel(city: str) -> str:
    return f"hotel-{city}"


@app.activity(retry=durable.RetryPolicy(max_attempts=3, non_retryable=(SoldOut,)))
async def book_car(city: str) -> str:
    if city == "lisbon":
        raise SoldOut(f"no cars left in {city}")
    return f"car-{city}"


@app.activity
async def cancel(booking: str) -> str:
    log.info("cancelled %s", booking)
    return booking


@app.orchestrator
def book_trip(
    ctx: durable.OrchestrationContext, city: str
) -> Generator[durable.Task[Any], Any, dict[str, Any]]:
    undo: list[Callable[[], durable.Task[str]]] = []
    try:
        flight = yield ctx.call_activity(book_flight, city)
        undo.append(lambda: ctx.call_activity(cancel, flight))
        hotel = yield ctx.call_activity(book_hotel, city)
        undo.append(lambda: ctx.call_activity(cancel, hotel))
        car = yield ctx.call_activity(book_car, city)
    except durable.ActivityFailed as failure:
        undone: list[str] = []
        for compensation in reversed(undo):  # last booked, first cancelled
            undone.append((yield compensation()))
        return {"booked": False, "reason": failure.message, "cancelled": undone}
    return {"booked": True, "bookings": [flight, hotel, car]}


async def main(store: str) -> None:
    async with durable.Client(store, app=app) as client, durable.Worker(app, store):
        for city in ("paris", "lisbon"):
            handle = await client.start(book_trip, city, instance_id=f"trip-{city}")
            print(f"{city}: {await handle.result(timeout=30)}")


if __name__ == "__main__":
    # This program tells its own story: its activities' lines, indented, and not durable's log.
    logging.basicConfig(level=logging.INFO, format="  %(message)s", stream=sys.stdout)
    logging.getLogger("durable").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp}/saga.db")
