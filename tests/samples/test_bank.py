"""samples/bank.py with the testing kit: transfers under a lock, a refused one, the total."""

from __future__ import annotations

import pytest

from durable import EntityId
from durable.testing import Environment
from samples.bank import app, total, transfer

pytestmark = pytest.mark.durable_app(app)


async def deposit(env: Environment, key: str, cents: int) -> None:
    await env.client.signal_entity(EntityId("Account", key), "deposit", cents)
    await env.settle()


async def test_a_transfer_moves_money_and_a_refused_one_moves_none(
    durable_env: Environment,
) -> None:
    await deposit(durable_env, "alice", 100)
    assert await durable_env.run(transfer, "alice", "bob", 60) == {"moved": 60, "left": 40}
    refused = await durable_env.run(transfer, "alice", "bob", 60)
    assert refused == {"moved": 0, "reason": "alice has 40, needs 60"}
    assert await durable_env.client.get_entity(EntityId("Account", "alice")) == 40
    assert await durable_env.client.get_entity(EntityId("Account", "bob")) == 60
    assert await durable_env.run(total, ["bob", "alice"]) == 100


async def test_transfers_both_ways_at_once_keep_the_total(durable_env: Environment) -> None:
    await deposit(durable_env, "alice", 50)
    await deposit(durable_env, "bob", 50)
    handles = [
        await durable_env.client.start(transfer, *pair, 10)
        for pair in [("alice", "bob"), ("bob", "alice")] * 5
    ]
    for handle in handles:
        assert (await durable_env.result(handle))["moved"] == 10
    assert await durable_env.run(total, ["alice", "bob"]) == 100


async def test_a_closed_account_reads_as_none(durable_env: Environment) -> None:
    await deposit(durable_env, "carol", 5)
    await durable_env.client.signal_entity(EntityId("Account", "carol"), "close")
    await durable_env.settle()
    assert await durable_env.client.get_entity(EntityId("Account", "carol")) is None
