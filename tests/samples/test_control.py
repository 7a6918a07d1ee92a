"""samples/control.py with the testing kit: events add up, cancel compensates, terminate."""

from __future__ import annotations

import pytest

import durable
from durable.testing import Call, Environment
from samples.control import app, release, tally

pytestmark = pytest.mark.durable_app(app)


async def test_events_add_up_until_none(durable_env: Environment) -> None:
    handle = await durable_env.client.start(tally, "acct-1")
    for amount in (5, 7, None):
        await handle.raise_event("add", amount)
    assert await handle.result(timeout=10) == 12


async def test_cancel_releases_the_hold(durable_env: Environment) -> None:
    handle = await durable_env.client.start(tally, "acct-2")
    await handle.raise_event("add", 3)
    await durable_env.settle()
    assert (await handle.status()).custom_status == {"total": 3}
    await handle.cancel("customer left")
    with pytest.raises(durable.OrchestrationFailed):
        await handle.result(timeout=10)
    assert (await handle.status()).status is durable.Status.CANCELED
    assert durable_env.calls(release) == [Call(("hold-acct-2",), {})]


async def test_terminate_runs_no_compensation(durable_env: Environment) -> None:
    handle = await durable_env.client.start(tally, "acct-3")
    await durable_env.settle()
    await handle.terminate("fraud")
    with pytest.raises(durable.Terminated):
        await handle.result(timeout=10)
    assert durable_env.calls(release) == []
