"""C1's client process: ``python -m tests.chaos.client_app URL PREFIX TASKS ROUNDS``.

``TASKS`` concurrent tasks each start an instance of ``three_steps`` and await its result,
``ROUNDS`` times over. Prints one JSON line: the start-to-result latencies (seconds) and the
errors any call raised (a caller must never see one, e.g. "database is locked").
"""

from __future__ import annotations

import json
import sys
import time

import anyio

import durable

from .worker_app import app, three_steps


async def main(url: str, prefix: str, tasks: int, rounds: int) -> None:
    latencies: list[float] = []
    errors: list[str] = []

    async def task(client: durable.Client, t: int) -> None:
        for r in range(rounds):
            n = t * rounds + r
            began = time.monotonic()
            try:
                handle = await client.start(three_steps, n, instance_id=f"{prefix}-{n}")
                if await handle.result(timeout=300) != n + 3:
                    errors.append(f"{prefix}-{n}: wrong result")
            except Exception as exc:  # reported, the run goes on: the test fails on any
                errors.append(f"{prefix}-{n}: {type(exc).__name__}: {exc}")
            latencies.append(time.monotonic() - began)

    async with durable.Client(url, app=app) as client, anyio.create_task_group() as group:
        for t in range(tasks):
            group.start_soon(task, client, t)
    print(json.dumps({"latencies": latencies, "errors": errors}))


if __name__ == "__main__":
    url, prefix, tasks, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    anyio.run(main, url, prefix, tasks, rounds)
