"""E1, durable entities: signals per second to one entity and to 1,000 entities, and the round
trip of ``ctx.call_entity`` (p50), against a worker in this process (``benchmarks.child``).

Signals are sent by a client, up to ``SENDERS`` at a time; a figure runs from the first send to
the moment the last operation is applied (read back with ``get_entity``). The call figure comes
from one orchestration calling one entity ``CALLS`` times in a row: each operation returns the
time it ran at, so the gaps between two operations are the round trip of one call (orchestrator
episode, entity episode, orchestrator episode). No target: figures to report.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Generator
from typing import Any

import durable
from durable import EntityId

from .app import app

#: concurrent senders of signals
SENDERS = 32
ENTITIES = 1000
CALLS = 200
#: generous: a figure that takes this long is a hang
WAIT = 900.0


@app.entity
class Tally:
    """The benchmark's entity: counts, and says when it ran (for the call round trip)."""

    state = 0

    def add(self, amount: int) -> int:
        self.state += amount
        return self.state

    def stamp(self) -> float:
        self.state += 1
        return time.perf_counter()  # the benchmark's own clock, shared by the process


@app.orchestrator
def caller(ctx: durable.OrchestrationContext, calls: int) -> Generator[Any, Any, list[float]]:
    stamps = []
    for _ in range(calls):
        stamps.append((yield ctx.call_entity(EntityId("Tally", "calls"), "stamp")))
    return stamps


async def _send(client: durable.Client, targets: list[EntityId]) -> None:
    queue = iter(targets)

    async def sender() -> None:
        for target in queue:
            await client.signal_entity(target, "add", 1)

    await asyncio.gather(*(sender() for _ in range(SENDERS)))


async def _reaches(client: durable.Client, entity: EntityId, value: int) -> None:
    async with asyncio.timeout(WAIT):
        while await client.get_entity(entity) != value:
            await asyncio.sleep(0.005)


async def e1_entities(client: durable.Client, signals: int) -> dict[str, float]:
    """``signals`` to one entity; ``signals`` spread over 1,000 entities; the call p50."""
    one = EntityId("Tally", "one")
    began = time.perf_counter()
    await _send(client, [one] * signals)
    await _reaches(client, one, signals)
    one_rate = signals / (time.perf_counter() - began)

    many = [EntityId("Tally", f"many-{i}") for i in range(ENTITIES)]
    per_entity = max(1, signals // ENTITIES)
    began = time.perf_counter()
    await _send(client, many * per_entity)
    for entity in many:
        await _reaches(client, entity, per_entity)
    many_rate = per_entity * ENTITIES / (time.perf_counter() - began)

    handle = await client.start(caller, CALLS)
    stamps = await handle.result(timeout=WAIT)
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(stamps)]
    return {
        "one_per_s": one_rate,
        "many_per_s": many_rate,
        "call_p50_ms": statistics.median(gaps),
    }
