"""The app the flow-control process tests run in worker processes (tests/test_flow_processes.py).

Every attempt appends ``start end key pid`` (unix seconds) to the file named by
``DURABLE_FLOW_LOG``, so the test can check overlaps, rates and order across processes. The
schedule's catch-up policy comes from ``DURABLE_CATCH_UP``.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

import anyio

import durable

app = durable.App()
app.queue("limited", concurrency=3)
app.queue("rated", rate=(20, timedelta(seconds=1)))
app.queue("fair", concurrency=2)


def _log(line: str) -> None:
    path = os.environ.get("DURABLE_FLOW_LOG")
    if path:  # one write() of a short line to an O_APPEND file: lines never interleave
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


@app.activity
async def work(key: str, seconds: float) -> None:
    started = time.time()
    await anyio.sleep(seconds)
    _log(f"{started:.6f} {time.time():.6f} {key} {os.getpid()}\n")


@app.orchestrator
def fan(ctx: durable.OrchestrationContext, queue: str, count: int, seconds: float, key: str) -> Any:
    call = work.with_options(queue=queue)
    yield ctx.when_all([ctx.call_activity(call, key, seconds) for _ in range(count)])
    return count


@app.orchestrator
def tick(ctx: durable.OrchestrationContext) -> Any:
    yield ctx.call_activity(work, ctx.instance_id, 0.0)
    return ctx.instance_id


if os.environ.get("DURABLE_CATCH_UP"):  # the schedule test's workers only
    app.schedule(tick, every=timedelta(seconds=1), catch_up=os.environ["DURABLE_CATCH_UP"])  # type: ignore[arg-type]
