"""Failover: try a remote queue first; if no worker serves it in time, run a local fallback.

``transcribe_on_gpu`` is routed to the queue ``"gpu"``. ``schedule_to_start_timeout`` (given
per call with ``with_options``) bounds the wait until a worker serving that queue starts it:
when it passes, the call fails with ``TaskTimeout`` at the ``yield`` and the orchestrator runs
the slower local activity instead. This program's worker serves only ``"default"``, so the first
call falls back; then a second worker that serves ``"gpu"`` joins and the next call runs there.
Run it with ``python samples/failover.py``.
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


@app.activity(queue="gpu")
async def transcribe_on_gpu(clip: str) -> str:
    return f"{clip}: transcribed on a GPU"


@app.activity  # queue "default"
async def transcribe_on_cpu(clip: str) -> str:
    return f"{clip}: transcribed on a CPU (slower)"


@app.orchestrator
def transcribe(
    ctx: durable.OrchestrationContext, clip: str
) -> Generator[durable.Task[Any], Any, str]:
    gpu = transcribe_on_gpu.with_options(schedule_to_start_timeout=timedelta(seconds=0.5))
    try:
        text: str = yield ctx.call_activity(gpu, clip)
    except durable.TaskTimeout:
        ctx.logger.warning("no GPU worker started %s in time: falling back", clip)
        text = yield ctx.call_activity(transcribe_on_cpu, clip)
    return text


async def main(store: str) -> None:
    async with durable.Client(store, app=app) as client, durable.Worker(app, store):
        first = await client.start(transcribe, "clip-1")
        print(await first.result(timeout=30))
        async with durable.Worker(app, store, queues=["gpu"]):  # a GPU host joins
            second = await client.start(transcribe, "clip-2")
            print(await second.result(timeout=30))


if __name__ == "__main__":
    logging.getLogger("durable").setLevel(logging.CRITICAL)  # this program prints its own story
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp}/failover.db")
