"""Bank accounts as durable entities, and a transfer between two of them in a critical section.

Each account is an entity: a small actor with a balance, whose operations (``deposit``,
``withdraw``, ``balance``) run one at a time, each a transaction on its state. A transfer locks
both accounts with ``ctx.lock_entities`` so that nobody sees (or changes) the money while it is
in flight: the withdrawal and the deposit happen as one step for everyone else, and two
transfers in opposite directions cannot deadlock (the locks are taken in a global order).
Run it with ``python samples/bank.py``.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Generator
from typing import Any

import anyio

import durable
from durable import EntityId

app = durable.App()


class InsufficientFunds(Exception):
    """A withdrawal larger than the balance: the operation fails and the balance stays."""


@app.entity
class Account:
    """One bank account; its state is the balance in cents."""

    state = 0

    def deposit(self, cents: int) -> int:
        self.state += cents
        return self.state

    def withdraw(self, cents: int) -> int:
        if cents > self.state:
            raise InsufficientFunds(f"{self.entity_id.key} has {self.state}, needs {cents}")
        self.state -= cents
        return self.state

    def balance(self) -> int:
        return self.state

    def close(self) -> None:
        self.delete()


@app.orchestrator
def transfer(
    ctx: durable.OrchestrationContext, source: str, target: str, cents: int
) -> Generator[durable.Task[Any], Any, dict[str, Any]]:
    """Move ``cents`` from ``source`` to ``target``, or nothing if ``source`` has too little."""
    a, b = EntityId("Account", source), EntityId("Account", target)
    with (yield ctx.lock_entities(a, b)):
        try:
            left = yield ctx.call_entity(a, "withdraw", cents)
        except durable.EntityFailed as refused:
            return {"moved": 0, "reason": refused.message}
        yield ctx.call_entity(b, "deposit", cents)
    return {"moved": cents, "left": left}


@app.orchestrator
def total(
    ctx: durable.OrchestrationContext, keys: list[str]
) -> Generator[durable.Task[Any], Any, int]:
    """The sum of the balances, read while nobody can move money between them."""
    accounts = [EntityId("Account", key) for key in keys]
    with (yield ctx.lock_entities(*accounts)):
        balances = yield ctx.when_all([ctx.call_entity(a, "balance") for a in accounts])
    return sum(balances)


async def main(store: str) -> None:
    async with durable.Client(store, app=app) as client, durable.Worker(app, store):
        await client.signal_entity(EntityId("Account", "alice"), "deposit", 100_00)
        await client.signal_entity(EntityId("Account", "bob"), "deposit", 20_00)
        for source, target, cents in [("alice", "bob", 30_00), ("bob", "alice", 90_00)]:
            handle = await client.start(transfer, source, target, cents)
            print(f"{source} -> {target} {cents}: {await handle.result(timeout=30)}")
        # ten transfers at once, five each way: the locks serialize them, none deadlocks
        both_ways = [("alice", "bob"), ("bob", "alice")] * 5
        handles = [await client.start(transfer, a, b, 1_00) for a, b in both_ways]
        moved = [(await handle.result(timeout=30))["moved"] for handle in handles]
        print(f"{len(moved)} transfers at once moved {sum(moved)} in all")
        audit = await client.start(total, ["alice", "bob"])
        print(f"total: {await audit.result(timeout=30)}")
        for key in ("alice", "bob"):
            print(f"{key}: {await client.get_entity(EntityId('Account', key))}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp}/bank.db")
