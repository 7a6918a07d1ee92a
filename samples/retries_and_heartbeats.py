"""Retries and heartbeats: a flaky activity that succeeds on its third attempt, and a long one
that resumes where its previous attempt stopped.

``fetch_rate`` fails twice with ``ConnectionError``; its ``RetryPolicy`` schedules each new
attempt in the store with a not-before time (exponential backoff), and the orchestrator sees only
the final result. ``import_rows`` calls ``durable.heartbeat(details)`` after each row. Its first
attempt hangs halfway, so its heartbeats stop: ``heartbeat_timeout`` cancels it, and the next
attempt reads the last details from ``durable.activity_info()`` and skips the rows already done.
Run it with ``python samples/retries_and_heartbeats.py``.
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
log = logging.getLogger(__name__)  # under `durable worker`, these lines join the worker's log

FAST_BACKOFF = durable.RetryPolicy(
    max_attempts=5,
    initial_interval=timedelta(milliseconds=100),  # then 200 ms, 400 ms, ...
    backoff_coefficient=2.0,
    non_retryable=(ValueError,),  # a bad currency code will not get better
)


@app.activity(retry=FAST_BACKOFF)
async def fetch_rate(currency: str) -> float:
    attempt = durable.activity_info().attempt
    if attempt < 3:
        log.info("fetch_rate attempt %d: connection refused", attempt)
        raise ConnectionError("rates service unavailable")
    log.info("fetch_rate attempt %d: ok", attempt)
    return 1.08


@app.activity(
    heartbeat_timeout=timedelta(milliseconds=300),
    retry=durable.RetryPolicy(max_attempts=3, initial_interval=timedelta(milliseconds=100)),
)
async def import_rows(rows: int) -> str:
    info = durable.activity_info()
    start = info.heartbeat_details or 0  # None on the first attempt
    log.info("import_rows attempt %d starts at row %d", info.attempt, start)
    for row in range(start, rows):
        if info.attempt == 1 and row == 6:
            await anyio.sleep(3600)  # the host hangs: no more heartbeats
        await anyio.sleep(0.01)  # import one row
        durable.heartbeat(row + 1)  # rows before row + 1 are done
    return f"{rows} rows imported in {info.attempt} attempts, the last from row {start}"


@app.orchestrator
def nightly_import(
    ctx: durable.OrchestrationContext, rows: int
) -> Generator[durable.Task[Any], Any, dict[str, Any]]:
    rate = yield ctx.call_activity(fetch_rate, "EUR")
    report = yield ctx.call_activity(import_rows, rows)
    return {"rate": rate, "import": report}


async def main(store: str) -> None:
    async with durable.Client(store, app=app) as client, durable.Worker(app, store):
        handle = await client.start(nightly_import, 10)
        result = await handle.result(timeout=30)
        failed = [e for e in await handle.history() if e.kind == "ActivityFailed"]
        print(f"failed attempts the orchestrator saw: {len(failed)}")
        print(f"result: {result}")


if __name__ == "__main__":
    # This program tells its own story: its activities' lines, indented, and not durable's log.
    logging.basicConfig(level=logging.INFO, format="  %(message)s", stream=sys.stdout)
    logging.getLogger("durable").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp}/retries.db")
