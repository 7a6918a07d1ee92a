"""samples/checkout.py with the testing kit: approval, the 2-day timeout, a declined charge."""

from __future__ import annotations

import pytest

import durable
from durable.testing import Call, Environment
from samples.checkout import app, charge, checkout, pack, ship

ORDER = {"id": "o-1", "cents": 500, "items": [1, 2]}
pytestmark = pytest.mark.durable_app(app)


async def test_an_approved_order_is_packed_and_shipped(durable_env: Environment) -> None:
    handle = await durable_env.client.start(checkout, ORDER)
    await handle.raise_event("approved", True)  # buffered until the wait
    assert await handle.result(timeout=10) == {
        "receipt": "receipt-o-1",
        "boxes": ["box-1", "box-2"],
        "tracking": "track-o-1-2",
    }
    assert sorted(durable_env.calls(pack)) == [Call((1,), {}), Call((2,), {})]
    assert (await handle.status()).custom_status == {"stage": "shipping"}


async def test_a_declined_order_ships_nothing(durable_env: Environment) -> None:
    handle = await durable_env.client.start(checkout, ORDER)
    await handle.raise_event("approved", False)
    assert await handle.result(timeout=10) == {"receipt": "receipt-o-1", "shipped": False}
    assert durable_env.calls(pack) == []


async def test_no_answer_in_two_days_fails_the_order(durable_env: Environment) -> None:
    start = durable_env.now()
    with pytest.raises(durable.OrchestrationFailed) as failed:
        await durable_env.run(checkout, ORDER)
    assert failed.value.error_type == "durable.TaskTimeout"
    assert (durable_env.now() - start).days == 2  # the 1 s timer, then the 2-day timeout


async def test_a_charge_that_keeps_failing_fails_the_order(durable_env: Environment) -> None:
    durable_env.mock_activity(charge, raises=ConnectionError("card network down"))
    with pytest.raises(durable.OrchestrationFailed, match="card network down"):
        await durable_env.run(checkout, ORDER)
    assert len(durable_env.calls(charge)) == 5  # the policy's 5 attempts, backoffs skipped


async def test_shipping_can_be_mocked(durable_env: Environment) -> None:
    durable_env.mock_sub_orchestrator(ship, returns="track-fake")
    handle = await durable_env.client.start(checkout, ORDER)
    await handle.raise_event("approved", True)
    assert (await handle.result(timeout=10))["tracking"] == "track-fake"
    assert durable_env.calls(ship) == [Call(("o-1", ["box-1", "box-2"]), {})]
