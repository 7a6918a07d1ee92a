"""Updates: a shopping cart whose items are added and removed by updates that answer at once.

``cart`` is an eternal-style orchestrator: it waits for an ``add``, ``remove`` or ``checkout``
update (``ctx.wait_for_update``), whichever comes first, and answers each with the cart's new
total (``ctx.respond``), or refuses it (``ctx.reject``: the client's ``handle.update`` raises
``durable.UpdateRejected``). Updates sent while the cart is busy wait, first in, first out.
After a few changes it continues as new with its items, so its history stays short; updates not
yet taken are carried over. Run it with ``python samples/shopping_cart.py``.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Generator
from typing import Any

import anyio

import durable

app = durable.App()

PRICES = {"apple": 50, "bread": 250, "cheese": 700}
#: changes per run before the cart continues as new (small, to show it)
CHANGES_PER_RUN = 3


@app.activity
async def receipt(items: dict[str, int]) -> str:
    total = sum(PRICES[name] * count for name, count in items.items())
    return f"paid {total} cents for {sum(items.values())} item(s)"


def total(items: dict[str, int]) -> int:
    return sum(PRICES[name] * count for name, count in items.items())


@app.orchestrator
def cart(
    ctx: durable.OrchestrationContext, items: dict[str, int]
) -> Generator[durable.Task[Any], Any, Any]:
    for _ in range(CHANGES_PER_RUN):
        add = ctx.wait_for_update("add")
        remove = ctx.wait_for_update("remove")
        checkout = ctx.wait_for_update("checkout")
        winner = yield ctx.when_any([add, remove, checkout])
        req: durable.UpdateRequest = winner.result()
        if winner is checkout:
            if not items:
                ctx.reject(req, "the cart is empty")
                continue
            paid = yield ctx.call_activity(receipt, items)
            ctx.respond(req, paid)
            return paid
        if req.arg not in PRICES:
            ctx.reject(req, f"we do not sell {req.arg!r}")
            continue
        if winner is remove:
            if not items.get(req.arg):
                ctx.reject(req, f"no {req.arg} in the cart")
                continue
            items[req.arg] -= 1
            items = {name: count for name, count in items.items() if count}
        else:
            items[req.arg] = items.get(req.arg, 0) + 1
        ctx.respond(req, total(items))
    return ctx.continue_as_new(items)


async def main(store: str) -> None:
    async with durable.Client(store, app=app) as client, durable.Worker(app, store):
        handle = await client.start(cart, {}, instance_id="cart-ada")
        for verb, item in [("add", "apple"), ("add", "cheese"), ("add", "apple")]:
            print(f"{verb} {item}: total {await handle.update(verb, item, timeout=30)}")
        for verb, item in [("add", "caviar"), ("remove", "bread")]:
            try:
                await handle.update(verb, item, timeout=30)
            except durable.UpdateRejected as exc:
                print(f"{verb} {item}: rejected ({exc.message})")
        print(f"remove apple: total {await handle.update('remove', 'apple', timeout=30)}")
        print(f"checkout: {await handle.update('checkout', None, timeout=30)}")
        print(f"result: {await handle.result(timeout=30)}")


if __name__ == "__main__":
    logging.getLogger("durable").setLevel(logging.CRITICAL)  # this program prints its own story
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp}/cart.db")
