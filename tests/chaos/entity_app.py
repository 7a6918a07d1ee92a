"""The entity process tests' app: ``python -m durable worker tests.chaos.entity_app:app``.

A counter entity bumped by orchestrations, and bank accounts that two orchestrations transfer
between under ``lock_entities`` while an auditor, under the same lock, reads the total.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import durable
from durable import EntityId

app = durable.App()


@app.entity
class Counter:
    state = 0

    def add(self, amount: int) -> int:
        self.state += amount
        return self.state


@app.entity
class Account:
    state = 0

    def deposit(self, amount: int) -> int:
        self.state += amount
        return self.state

    def withdraw(self, amount: int) -> int:
        if amount > self.state:
            raise ValueError(f"balance {self.state} is less than {amount}")
        self.state -= amount
        return self.state

    def balance(self) -> int:
        return self.state


@app.orchestrator
def bump(ctx: durable.OrchestrationContext, key: str, times: int) -> Generator[Any, Any, int]:
    last = 0
    for _ in range(times):
        last = yield ctx.call_entity(EntityId("Counter", key), "add", 1)
    return last


@app.orchestrator
def transfer(
    ctx: durable.OrchestrationContext, source: str, target: str, times: int
) -> Generator[Any, Any, int]:
    """Move 1 from ``source`` to ``target`` ``times`` times, each under a lock on both."""
    a, b = EntityId("Account", source), EntityId("Account", target)
    moved = 0
    for _ in range(times):
        with (yield ctx.lock_entities(a, b)):
            try:
                yield ctx.call_entity(a, "withdraw", 1)
            except durable.EntityFailed:
                continue  # empty: nothing moves
            yield ctx.call_entity(b, "deposit", 1)
            moved += 1
    return moved


@app.orchestrator
def audit(
    ctx: durable.OrchestrationContext, keys: list[str], times: int
) -> Generator[Any, Any, list[int]]:
    """The total of the accounts, read ``times`` times, each under a lock on all of them."""
    accounts = [EntityId("Account", key) for key in keys]
    totals = []
    for _ in range(times):
        with (yield ctx.lock_entities(*accounts)):
            balances = yield ctx.when_all([ctx.call_entity(a, "balance") for a in accounts])
        totals.append(sum(balances))
    return totals
