"""samples/versioning.py with the testing kit: the patched version replays old histories."""

from __future__ import annotations

from durable.testing import Environment, replay
from samples.versioning import checkout_v1, checkout_v2, checkout_v2_unsafe, deploy


async def test_v1_histories_replay_under_v2_but_not_under_the_unsafe_change() -> None:
    async with Environment(deploy(checkout_v1)) as env:
        handle = await env.client.start("checkout", "order-a")
        await env.settle()  # charged, waiting for "shipped"
        history = await handle.history()
    assert (await replay(deploy(checkout_v2), history)).ok
    report = await replay(deploy(checkout_v2_unsafe), history)
    assert not report.ok
    assert "check_fraud" in str(report.failures[0].error)


async def test_new_instances_take_the_fraud_check() -> None:
    async with Environment(deploy(checkout_v2)) as env:
        handle = await env.client.start("checkout", "order-b")
        await handle.raise_event("shipped")
        assert await handle.result(timeout=10) == "fraud-checked, receipt-order-b"
