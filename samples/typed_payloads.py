"""Typed payloads: dataclasses, datetimes and decimals in and out of orchestrations, as JSON.

Every input, argument, result and event payload is stored as JSON. Decoding follows the type
hints of the function that receives the value (or the return annotation of the function that
produced it), so ``Invoice`` arrives as an ``Invoice`` with a ``Decimal`` and a ``datetime``
inside, in the activity, in the orchestrator and in the client. A value JSON cannot carry
faithfully is refused where it is passed. Run it with ``python samples/typed_payloads.py``.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import anyio

import durable

app = durable.App()


@dataclass
class Order:
    order_id: str
    amount: Decimal
    placed_at: datetime


@dataclass
class Invoice:
    order_id: str
    total: Decimal
    due: datetime


@app.activity
async def make_invoice(order: Order, vat: Decimal) -> Invoice:
    assert isinstance(order.amount, Decimal) and isinstance(order.placed_at, datetime)
    due = order.placed_at + timedelta(days=30)
    return Invoice(order.order_id, (order.amount * (1 + vat)).quantize(Decimal("0.01")), due)


@app.orchestrator
def bill(ctx: durable.OrchestrationContext, order: Order) -> Generator[Any, Any, Invoice]:
    invoice: Invoice = yield ctx.call_activity(make_invoice, order, Decimal("0.2"))
    assert isinstance(invoice, Invoice)  # decoded by make_invoice's return annotation
    return invoice


async def main(store: str) -> None:
    async with durable.Client(store, app=app) as client, durable.Worker(app, store):
        placed = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
        handle = await client.start(bill, Order("o-7", Decimal("19.99"), placed))
        try:
            await client.start(bill, Order("o-8", Decimal("NaN"), placed))
        except durable.SerializationError as refused:
            print(f"refused at the call site: {refused}")
        invoice = await handle.result(timeout=30)
        async with durable.Client(store) as plain:  # no app, no type hints: plain JSON values
            stored = (await plain.get(handle.instance_id).status()).input
        print(f"stored as JSON: {json.dumps(stored)}")
        print(f"result: {invoice!r}")


if __name__ == "__main__":
    logging.getLogger("durable").setLevel(logging.CRITICAL)  # this program prints its own story
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp}/payloads.db")
