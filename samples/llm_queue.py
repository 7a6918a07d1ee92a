"""A rate-limited queue shared by two tenants: the calls to a model API (an LLM) that allows 2
requests at once and 20 a second, whoever makes them.

``app.queue("llm", concurrency=2, rate=(20, timedelta(seconds=1)))`` declares the limits; the
store's claim enforces them across every worker process and host. Each tenant's instance is
started with ``fairness_key=tenant``: its activities inherit it, and the queue serves the keys
in turn, so the big tenant's 40 documents cannot make the small tenant's 4 wait behind them.
Run it with ``python samples/llm_queue.py``.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import anyio

import durable

app = durable.App()
app.queue("llm", concurrency=2, rate=(20, timedelta(seconds=1)))

#: calls in flight right now, and the most there ever were (to show the limit holds)
in_flight = {"now": 0, "most": 0}


@app.activity(queue="llm")
async def summarize(document: str) -> str:
    in_flight["now"] += 1
    in_flight["most"] = max(in_flight["most"], in_flight["now"])
    try:
        await anyio.sleep(0.02)  # stands for the model's answer
        return f"summary of {document}"
    finally:
        in_flight["now"] -= 1


@app.orchestrator
def summarize_all(
    ctx: durable.OrchestrationContext, tenant: str, count: int
) -> Generator[durable.Task[Any], Any, int]:
    documents = [f"{tenant}-doc-{n}" for n in range(count)]
    summaries = yield ctx.when_all([ctx.call_activity(summarize, d) for d in documents])
    return len(summaries)


async def main(store: str) -> None:
    async with durable.Client(store, app=app) as client, durable.Worker(app, store):
        big = await client.start(summarize_all, "big", 40, fairness_key="big")
        small = await client.start(summarize_all, "small", 4, fairness_key="small")
        finished = []

        async def wait(name: str, handle: durable.InstanceHandle) -> None:
            await handle.result(timeout=60)
            finished.append(name)

        async with anyio.create_task_group() as group:
            group.start_soon(wait, "big", big)
            group.start_soon(wait, "small", small)
        print(f"finished in this order: {', '.join(finished)}")
        print(f"at most {in_flight['most']} calls at once")


if __name__ == "__main__":
    logging.getLogger("durable").setLevel(logging.CRITICAL)  # this program prints its own story
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp}/llm_queue.db")
