"""Versioning: change the code of an orchestration while instances of it are running.

Version 2 of ``checkout`` adds a fraud check before the charge. Instances started under version
1 have ``charge`` as their first recorded effect, so replaying them through code that yields
``check_fraud`` first is a ``NonDeterminismError``: the worker leaves such an instance RUNNING,
with the error in its status, until code that matches its history is deployed. Guarded by
``ctx.patched("fraud-check")``, the same change is safe: old histories replay the old path,
new instances take the new one. The three deploys run here one after the other on one store.
Run it with ``python samples/versioning.py``.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Callable, Generator
from typing import Any

import anyio

import durable

Checkout = Generator[durable.Task[Any], Any, str]


async def charge(order_id: str) -> str:
    return f"receipt-{order_id}"


async def check_fraud(order_id: str) -> str:
    return "fraud-checked"


def checkout_v1(ctx: durable.OrchestrationContext, order_id: str) -> Checkout:
    receipt: str = yield ctx.call_activity("charge", order_id)
    ctx.set_custom_status("charged")
    yield ctx.wait_for_event("shipped")
    return receipt


def checkout_v2_unsafe(ctx: durable.OrchestrationContext, order_id: str) -> Checkout:
    check = yield ctx.call_activity("check_fraud", order_id)  # breaks old histories
    receipt = yield ctx.call_activity("charge", order_id)
    ctx.set_custom_status("charged")
    yield ctx.wait_for_event("shipped")
    return f"{check}, {receipt}"


def checkout_v2(ctx: durable.OrchestrationContext, order_id: str) -> Checkout:
    check = "not checked"
    if ctx.patched("fraud-check"):  # False when replaying a history from before the change
        check = yield ctx.call_activity("check_fraud", order_id)
    receipt = yield ctx.call_activity("charge", order_id)
    ctx.set_custom_status("charged")
    yield ctx.wait_for_event("shipped")
    return f"{check}, {receipt}"


def deploy(checkout: Callable[..., Checkout]) -> durable.App:
    """One deploy of the program: the activities and one version of "checkout"."""
    app = durable.App()
    app.activity(charge)
    app.activity(check_fraud)
    app.orchestrator(name="checkout")(checkout)
    return app


async def main(store: str) -> None:
    async with durable.Client(store) as client:
        async with durable.Worker(deploy(checkout_v1), store):
            old_a = await client.start("checkout", "a", instance_id="order-a")
            old_b = await client.start("checkout", "b", instance_id="order-b")
            await until(old_a, lambda s: s.custom_status == "charged")
            await until(old_b, lambda s: s.custom_status == "charged")

        async with durable.Worker(deploy(checkout_v2_unsafe), store):
            await old_b.raise_event("shipped")  # order-b replays through the new code
            held = await until(old_b, lambda s: s.error is not None)
            print(f"order-b under v2 without ctx.patched: {held.status}\n  {held.error}")

        async with durable.Worker(deploy(checkout_v2), store):
            await old_a.raise_event("shipped")
            print(f"order-a, started by v1, finished by v2: {await old_a.result(timeout=30)}")
            new = await client.start("checkout", "c", instance_id="order-c")
            await until(new, lambda s: s.custom_status == "charged")
            await new.raise_event("shipped")
            print(f"order-c, started by v2: {await new.result(timeout=30)}")


async def until(
    handle: durable.InstanceHandle, done: Callable[[durable.InstanceStatus], bool]
) -> durable.InstanceStatus:
    """Poll the instance's status until ``done`` accepts it."""
    while not done(status := await handle.status()):
        await anyio.sleep(0.02)
    return status


if __name__ == "__main__":
    logging.getLogger("durable").setLevel(logging.CRITICAL)  # this program prints its own story
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp}/versioning.db")
