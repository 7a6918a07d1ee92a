"""CPU-bound activities in a process pool: ``@app.activity(executor="process")``.

``count_primes`` is pure Python arithmetic: in threads, the GIL would let one run at a time. With
``executor="process"`` each attempt runs in a process of the worker's pool
(``Worker(max_processes=N)``), so the fan-out below uses N cores. Arguments and result cross to
the process as JSON; the function is imported there by its module and name. ``spin`` never
returns: its ``timeout`` kills its process, the attempt fails, and the worker goes on serving.
Run it with ``python samples/cpu_bound.py``.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import anyio

import durable

app = durable.App()


@app.activity(executor="process")
def count_primes(start: int, stop: int) -> int:
    """How many primes lie in ``[start, stop)``: plain CPU work, no I/O."""
    return sum(
        1 for n in range(max(start, 2), stop) if all(n % d for d in range(2, int(n**0.5) + 1))
    )


@app.activity(
    executor="process", timeout=timedelta(seconds=1), retry=durable.RetryPolicy(max_attempts=1)
)
def spin() -> None:
    """A loop that never ends: only killing its process stops it."""
    while True:
        pass


@app.orchestrator
def primes_below(
    ctx: durable.OrchestrationContext, limit: int, chunks: int
) -> Generator[durable.Task[Any], Any, int]:
    step = -(-limit // chunks)
    counts = yield ctx.when_all(
        [ctx.call_activity(count_primes, i, min(i + step, limit)) for i in range(0, limit, step)]
    )
    return sum(counts)


@app.orchestrator
def runaway(ctx: durable.OrchestrationContext) -> Generator[durable.Task[Any], Any, str]:
    try:
        yield ctx.call_activity(spin)
    except durable.ActivityFailed as exc:
        return f"stopped: {exc.error_type}"
    return "it returned?"


async def main(store: str) -> None:
    async with (
        durable.Worker(app, store, max_processes=2),
        durable.Client(store, app=app) as client,
    ):
        stopped = await client.start(runaway)
        print(await (await client.start(primes_below, 100_000, 4)).result(timeout=120))
        print(await stopped.result(timeout=60))


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/primes.db"
    anyio.run(main, url)
