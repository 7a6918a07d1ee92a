"""Fan-out/fan-in: start many activities at once, then wait for all of their results.

``ctx.when_all`` takes the tasks of activities that were created but not yet yielded; the worker
runs them concurrently (async ones on its event loop, sync ones in its thread pool) and the
orchestrator resumes once every result is recorded, with the results in the order given. Run it
with ``python samples/fan_out.py``.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Generator
from typing import Any

import anyio

import durable

app = durable.App()


@app.activity
async def list_pages(site: str) -> list[str]:
    return [f"{site}/page-{n}" for n in range(20)]


@app.activity
async def count_words(page: str) -> int:
    await anyio.sleep(0.1)  # stands for a download: 20 pages take about 0.1 s, not 2 s
    return len(page)


@app.orchestrator
def word_count(
    ctx: durable.OrchestrationContext, site: str
) -> Generator[durable.Task[Any], Any, dict[str, int]]:
    pages = yield ctx.call_activity(list_pages, site)
    counts = yield ctx.when_all([ctx.call_activity(count_words, page) for page in pages])
    return {"pages": len(pages), "words": sum(counts)}


async def main(store: str) -> None:
    async with durable.Client(store, app=app) as client, durable.Worker(app, store):
        handle = await client.start(word_count, "example.org")
        started = anyio.current_time()
        result = await handle.result(timeout=30)
        print(f"took {anyio.current_time() - started:.1f} s")
        history = await handle.history()
        scheduled = sum(event.kind == "ActivityScheduled" for event in history)
        print(f"{scheduled} activities recorded in {len(history)} history events")
        print(f"result: {result}")


if __name__ == "__main__":
    logging.getLogger("durable").setLevel(logging.CRITICAL)  # this program prints its own story
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp}/fan_out.db")
