"""Monitor: an eternal orchestration that polls on a durable timer, one run per check.

Each run checks the job once, sleeps on a durable timer and ends with
``return ctx.continue_as_new(...)``: the same instance id starts again with the new input and an
empty history, so a monitor that runs for months keeps a short history. It stops when the job is
done or after ``checks_left`` runs. Run it with ``python samples/monitor.py``.
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
polls: dict[str, int] = {}  # stands for the remote job's state


@app.activity
async def job_state(job_id: str) -> str:
    polls[job_id] = polls.get(job_id, 0) + 1
    return "done" if polls[job_id] >= 4 else "running"


@app.orchestrator
def watch_job(
    ctx: durable.OrchestrationContext, job_id: str, checks_left: int, check: int = 1
) -> Generator[durable.Task[Any], Any, Any]:
    state = yield ctx.call_activity(job_state, job_id)
    ctx.logger.info("check %d of %s: %s", check, job_id, state)
    if state == "done":
        return f"{job_id} done after {check} checks"
    if checks_left <= 1:
        return f"{job_id} still {state} after {check} checks: gave up"
    yield ctx.sleep(timedelta(milliseconds=200))  # a durable timer: hours, in real life
    return ctx.continue_as_new(job_id, checks_left - 1, check + 1)


async def main(store: str) -> None:
    async with durable.Client(store, app=app) as client, durable.Worker(app, store):
        for job_id, checks in (("build-7", 10), ("build-8", 2)):
            handle = await client.start(watch_job, job_id, checks, instance_id=f"watch-{job_id}")
            result = await handle.result(timeout=30)  # follows the runs to the last one
            status = await handle.status()
            history = await handle.history()
            print(f"last run's input: {status.input}, its history: {len(history)} events")
            print(f"result: {result}")


if __name__ == "__main__":
    logging.getLogger("durable").setLevel(logging.CRITICAL)  # this program prints its own story
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp}/monitor.db")
