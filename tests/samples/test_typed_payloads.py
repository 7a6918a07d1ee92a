"""samples/typed_payloads.py with the testing kit: dataclasses, Decimal, datetime arrive typed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from durable.testing import Environment
from samples.typed_payloads import Invoice, Order, app, bill, make_invoice

pytestmark = pytest.mark.durable_app(app)


async def test_the_invoice_comes_back_as_an_invoice(durable_env: Environment) -> None:
    placed = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    invoice = await durable_env.run(bill, Order("o-7", Decimal("19.99"), placed))
    assert invoice == Invoice("o-7", Decimal("23.99"), datetime(2024, 5, 31, 9, 30, tzinfo=UTC))
    (call,) = durable_env.calls(make_invoice)
    assert call.args == (Order("o-7", Decimal("19.99"), placed), Decimal("0.2"))
