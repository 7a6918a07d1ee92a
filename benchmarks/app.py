"""The benchmark application: the orchestrators and activities of the workloads W1-W6.

One ``App`` shared by the in-process runs (``benchmarks.child``) and the worker subprocesses
of W6 (``benchmarks.worker_proc``), so that both sides register the same names.
Activities are no-ops (``x + 1``) as WORKLOADS.md asks, except ``slow_step`` (W6).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import anyio

import durable

app = durable.App()

#: ``time.perf_counter()`` at the start of each ``marked_step`` (W3's growth figure); the
#: activity runs in the worker, which shares the process with the runner in W3
MARKS: list[float] = []

#: W6's activity: long enough that one worker process is bound by its concurrency, not the CPU
SLOW_STEP_SECONDS = 0.05

Steps = Generator[durable.Task[Any], Any, int]


@app.activity
async def step(x: int) -> int:
    return x + 1


@app.activity
async def marked_step(x: int) -> int:
    MARKS.append(time.perf_counter())
    return x + 1


@app.activity
async def slow_step(x: int) -> int:
    await anyio.sleep(SLOW_STEP_SECONDS)
    return x + 1


@app.orchestrator
def one_step(ctx: durable.OrchestrationContext, x: int) -> Steps:
    """W1: one activity."""
    x = yield ctx.call_activity(step, x)
    return x


@app.orchestrator
def three_steps(ctx: durable.OrchestrationContext, x: int) -> Steps:
    """W2 and the warm-up: three sequential activities."""
    for _ in range(3):
        x = yield ctx.call_activity(step, x)
    return x


@app.orchestrator
def three_slow_steps(ctx: durable.OrchestrationContext, x: int) -> Steps:
    """W6: W2 with activities that wait 50 ms."""
    for _ in range(3):
        x = yield ctx.call_activity(slow_step, x)
    return x


@app.orchestrator
def sequential(ctx: durable.OrchestrationContext, n: int) -> Steps:
    """W3: ``n`` sequential activities (each one's start time lands in ``MARKS``)."""
    x = 0
    for _ in range(n):
        x = yield ctx.call_activity(marked_step, x)
    return x


@app.orchestrator
def fan_out(ctx: durable.OrchestrationContext, n: int) -> Steps:
    """W4: ``n`` activities scheduled at once, gathered."""
    results = yield ctx.when_all([ctx.call_activity(step, i) for i in range(n)])
    return sum(results)


@app.orchestrator
def sleeper(ctx: durable.OrchestrationContext, x: int) -> Steps:
    """W5: one durable one-second timer."""
    yield ctx.sleep(1.0)
    return x


@app.orchestrator
def counter(ctx: durable.OrchestrationContext, rounds: int) -> Steps:
    """W9: answers ``rounds`` updates ``add`` with the running total."""
    total = 0
    for _ in range(rounds):
        req = yield ctx.wait_for_update("add")
        total += req.arg
        ctx.respond(req, total)
    return total


@app.activity
async def emit(count: int) -> int:
    """W9: ``count`` stream values, written as fast as the activity can."""
    for n in range(count):
        durable.write_stream("tokens", n)
    return count


@app.orchestrator
def streamer(ctx: durable.OrchestrationContext, count: int) -> Steps:
    """W9: one activity that streams ``count`` values."""
    return (yield ctx.call_activity(emit, count))
