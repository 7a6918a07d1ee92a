"""Listing by tag at 100,000 instances (issue 19): ``client.list(tags=...)`` stays under 50 ms.
Run it with ``python -m benchmarks.tags_list`` (``--store sqlite,postgres``, ``--instances N``).

The store gets ``--instances`` instances through ``client.start`` (no worker runs them: they
stay PENDING, which changes nothing for a list), each tagged with one of 1,000 customers, one of
10 regions and one of 2 plans. Each query is timed end to end through the client (the store's
query and the decoding of 100 rows), median of ``REPEATS`` runs after one warm-up:

* a rare tag (a customer: 100 instances), the newest 100;
* a common tag (a region: 10,000 instances), the newest 100;
* a common and a rare tag that no instance has both (a plan and a customer);
* two common tags (a region and a plan: 10,000 instances), the newest 100.

The table shows how many instances match each query (``matching``) and how many it returned.

The bound: every median under 50 ms. Prints one markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import anyio

import durable

REPEATS = 21
BOUND_MS = 50.0
app = durable.App()


@app.orchestrator
def tagged(ctx: durable.OrchestrationContext, n: int) -> Generator[Any, Any, int]:
    yield ctx.sleep(0)
    return n


def tags_of(n: int) -> dict[str, str]:
    return {"customer": f"c-{n % 1000}", "region": f"r-{n % 10}", "plan": ("pro", "free")[n % 2]}


QUERIES = {
    "a rare tag": {"customer": "c-7"},
    "a common tag": {"region": "r-3"},
    "a common and a rare tag, none both": {"plan": "pro", "customer": "c-7"},
    "two common tags": {"region": "r-4", "plan": "pro"},
}


async def populate(client: durable.Client, count: int) -> float:
    began = time.perf_counter()
    limiter = anyio.Semaphore(64)

    async def one(n: int) -> None:
        async with limiter:
            await client.start(tagged, n, instance_id=f"t-{n:06d}", tags=tags_of(n))

    async with anyio.create_task_group() as group:
        for n in range(count):
            group.start_soon(one, n)
    return time.perf_counter() - began


async def measure(url: str, count: int) -> dict[str, tuple[float, int, int]]:
    async with durable.Client(url, app=app) as client:
        took = await populate(client, count)
        print(f"{url.split(':')[0]}: {count} instances in {took:.1f} s", file=sys.stderr)
        results = {}
        for label, tags in QUERIES.items():
            found = await client.list(tags=tags, limit=100)  # warm-up
            times = []
            for _ in range(REPEATS):
                started = time.perf_counter()
                found = await client.list(tags=tags, limit=100)
                times.append((time.perf_counter() - started) * 1000)
            assert all(all(s.tags[k] == v for k, v in tags.items()) for s in found)
            matching = sum(all(tags_of(n)[k] == v for k, v in tags.items()) for n in range(count))
            results[label] = (statistics.median(times), len(found), matching)
        return results


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tags_list")
    parser.add_argument("--store", default="sqlite,postgres")
    parser.add_argument("--instances", type=int, default=100_000)
    args = parser.parse_args()
    table = [
        "| store | query | matching | returned | median ms | bound |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        server = None
        try:
            for kind in args.store.split(","):
                if kind == "sqlite":
                    url = f"sqlite:///{Path(folder) / 'tags.db'}"
                else:
                    from tests.pg_server import PostgresServer

                    server = PostgresServer(fsync="on").start()
                    url = f"{server.url}?schema=tags"
                measured = anyio.run(measure, url, args.instances)
                for label, (median, rows, matching) in measured.items():
                    within = median < BOUND_MS
                    ok = ok and within
                    name = "SQLite" if kind == "sqlite" else "PostgreSQL"
                    table.append(
                        f"| {name} | {label} | {matching} | {rows} | {median:.1f} | "
                        f"{'ok' if within else 'OVER'} (< {BOUND_MS:.0f}) |"
                    )
        finally:
            if server is not None:
                server.destroy()
    print("\n".join(table))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
