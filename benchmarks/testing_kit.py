"""W8 of WORKLOADS.md: the testing kit. Run it with ``python -m benchmarks.testing_kit``.

1. W8: a test of a 10-step orchestrator (9 activities and a 30-day ``ctx.sleep``) run by
   ``durable.testing.Environment``, as a user's test runs it (the environment entered, the
   orchestrator run to its result, the environment left): wall ms per test, median of 100.
2. The issue's bound: a 30-day sleep plus a 2-day ``wait_for_event`` timeout in under 1 s of
   wall time (median of 20).
3. The store under the kit: the memory backend against SQLite's ``:memory:`` (what
   ``memory://`` was before), the W8 orchestrator run 200 times in a row on one worker
   (started from a client in the worker's process, as ``durable.testing`` does): ms per run.

``DURABLE_BENCH_QUICK=1`` runs a fifth of each. Figures are medians, ``time.perf_counter``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import durable
from durable.stores.memory.store import MemoryStore
from durable.stores.sqlite.store import SQLiteStore
from durable.testing import Environment

QUICK = os.environ.get("DURABLE_BENCH_QUICK", "") not in ("", "0")
TESTS = 20 if QUICK else 100
TIMEOUT_TESTS = 4 if QUICK else 20
STORE_RUNS = 40 if QUICK else 200
STEPS = 10

app = durable.App()


@app.activity
async def add_one(x: int) -> int:
    return x + 1


@app.orchestrator
def ten_steps(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    """10 steps: 9 activities and a 30-day durable sleep in the middle."""
    for step in range(STEPS - 1):
        x = yield ctx.call_activity(add_one, x)
        if step == 4:
            yield ctx.sleep(timedelta(days=30))
    return x


@app.orchestrator
def month_then_timeout(ctx: durable.OrchestrationContext) -> Generator[Any, Any, str]:
    yield ctx.sleep(timedelta(days=30))
    try:
        yield ctx.wait_for_event("approved", timeout=timedelta(days=2))
    except durable.TaskTimeout:
        return "timed out"
    return "approved"


async def one_test(orchestrator: Any, *args: Any) -> tuple[float, Any]:
    began = time.perf_counter()
    async with Environment(app) as env:
        result = await env.run(orchestrator, *args)
    return (time.perf_counter() - began) * 1000, result


async def w8(tests: int = TESTS) -> float:
    await one_test(ten_steps, 0)  # warm-up: imports, caches
    samples = []
    for _ in range(tests):
        ms, result = await one_test(ten_steps, 0)
        assert result == STEPS - 1
        samples.append(ms)
    return statistics.median(samples)


async def thirty_days() -> float:
    samples = []
    for _ in range(TIMEOUT_TESTS):
        ms, result = await one_test(month_then_timeout)
        assert result == "timed out"
        samples.append(ms)
    return statistics.median(samples)


async def runs_on(store: durable.stores.Store) -> float:
    """ms per run of ``ten_steps`` (its sleep shortened to nothing: no virtual clock here)."""
    fast = durable.App()
    fast.activity(add_one.fn)

    @fast.orchestrator(name="ten_steps")
    def ten(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
        for _ in range(STEPS):
            x = yield ctx.call_activity("add_one", x)
        return x

    await store.open()
    try:
        async with durable.Client(store, app=fast) as client, durable.Worker(fast, store):
            for i in range(5):
                await (await client.start("ten_steps", i)).result(timeout=30)
            began = time.perf_counter()
            for i in range(STORE_RUNS):
                assert await (await client.start("ten_steps", i)).result(timeout=30) == i + STEPS
            return (time.perf_counter() - began) * 1000 / STORE_RUNS
    finally:
        await store.close()


async def figures(tests: int) -> dict[str, float]:
    """W8's figures for ``make bench`` (``benchmarks.child W8``): ms per test, median of
    ``tests``, and the 30-day sleep plus 2-day timeout."""
    return {"test_ms": await w8(tests), "month_ms": await thirty_days()}


async def main() -> None:
    print(f"W8 testing kit: {STEPS}-step orchestrator with a 30-day sleep, one test each")
    print(f"  wall ms per test, median of {TESTS}: {await w8():.2f}")
    print(
        f"30-day sleep + 2-day wait_for_event timeout, wall ms, median of {TIMEOUT_TESTS}: ", end=""
    )
    print(f"{await thirty_days():.2f}")
    memory = await runs_on(MemoryStore())
    sqlite = await runs_on(SQLiteStore(":memory:", display_url="sqlite-memory"))
    print(f"store under the kit: {STEPS} steps, ms per run, mean of {STORE_RUNS}")
    print(f"  memory backend:     {memory:.2f}")
    print(f"  SQLite :memory:     {sqlite:.2f}  ({sqlite / memory:.1f}x the memory backend)")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
