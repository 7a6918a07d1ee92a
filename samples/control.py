"""Events and control: deliver events to a running instance; suspend, resume, cancel, terminate.

``tally`` adds up the amounts of ``"add"`` events until one carries ``None``. Events with one name
are delivered first in, first out, and an event raised before the orchestrator waits for it is
kept until it does. A suspended instance runs nothing and keeps what it receives until resumed.
``cancel`` throws ``durable.Cancelled`` in at the current ``yield`` so the orchestrator can
compensate; ``terminate`` ends the instance at once and runs none of its effects.
Run it with ``python samples/control.py``.
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


@app.activity
async def reserve(account: str) -> str:
    return f"hold-{account}"


@app.activity
async def release(hold: str) -> None:
    log.info("released %s", hold)


@app.orchestrator
def tally(
    ctx: durable.OrchestrationContext, account: str
) -> Generator[durable.Task[Any], Any, int]:
    hold = yield ctx.call_activity(reserve, account)
    total = 0
    ctx.set_custom_status({"total": total})
    try:
        while (amount := (yield ctx.wait_for_event("add"))) is not None:
            total += amount
            ctx.set_custom_status({"total": total})
    except durable.Cancelled:
        yield ctx.call_activity(release, hold)  # compensation may yield more effects
        raise  # ends the instance CANCELED
    return total


async def main(store: str) -> None:
    async with durable.Client(store, app=app) as client, durable.Worker(app, store):
        early = await client.start(tally, "a")
        for amount in (1, 2, 3, None):  # raised before the orchestrator waits: kept, in order
            await early.raise_event("add", amount)
        print(f"events raised early: {await early.result(timeout=30)}")

        paused = await client.start(tally, "b")
        await until(paused, lambda s: s.custom_status is not None)  # waiting for events
        await paused.suspend("audit")
        await until(paused, lambda s: s.status is durable.Status.SUSPENDED)
        await paused.raise_event("add", 5)
        await anyio.sleep(0.2)
        status = await paused.status()
        print(f"while suspended: {status.status}, custom status {status.custom_status}")
        await paused.resume()
        await paused.raise_event("add", None)
        print(f"after resume: {await paused.result(timeout=30)}")

        cancelled = await client.start(tally, "c")
        await until(cancelled, lambda s: s.custom_status is not None)
        await cancelled.cancel("account closed")
        try:
            await cancelled.result(timeout=30)
        except durable.OrchestrationFailed as failure:
            print(f"cancel: {(await cancelled.status()).status} ({failure.error_type})")

        terminated = await client.start(tally, "d")
        await until(terminated, lambda s: s.custom_status is not None)
        await terminated.terminate("fraud")
        try:
            await terminated.result(timeout=30)
        except durable.Terminated as stopped:
            print(f"terminate: {(await terminated.status()).status} ({stopped.reason})")


async def until(
    handle: durable.InstanceHandle, done: Callable[[durable.InstanceStatus], bool]
) -> None:
    """Poll the instance's status until ``done`` accepts it."""
    while not done(await handle.status()):
        await anyio.sleep(0.02)


if __name__ == "__main__":
    # This program tells its own story: its activities' lines, indented, and not durable's log.
    logging.basicConfig(level=logging.INFO, format="  %(message)s", stream=sys.stdout)
    logging.getLogger("durable").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp}/control.db")
