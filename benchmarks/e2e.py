"""End-to-end figures on the embedded store: W1 (latency) and W2 (throughput) of WORKLOADS.md.

``python -m benchmarks.e2e`` runs both on a fresh SQLite file (synchronous=FULL, the default)
with an in-process worker and prints a markdown table. Not a test: machines are shared and noisy.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import anyio

import durable

app = durable.App()
QUICK = bool(os.environ.get("DURABLE_BENCH_QUICK"))


@app.activity
async def step(x: int) -> int:
    return x + 1


@app.orchestrator
def one_step(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    return (yield ctx.call_activity(step, x))


@app.orchestrator
def three_steps(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    for _ in range(3):
        x = yield ctx.call_activity(step, x)
    return x


async def w1_latency(url: str, runs: int) -> dict[str, float]:
    """p50/p99 ms from start to result, one orchestration with one activity at a time."""
    async with durable.Client(url, app=app) as client, durable.Worker(app, url):
        for i in range(20):  # warm-up
            await (await client.start(one_step, i)).result(timeout=30)
        samples = []
        for i in range(runs):
            began = time.perf_counter()
            assert await (await client.start(one_step, i)).result(timeout=30) == i + 1
            samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return {"p50 ms": statistics.median(samples), "p99 ms": samples[int(len(samples) * 0.99) - 1]}


async def w2_throughput(url: str, count: int) -> dict[str, float]:
    """Wall time for ``count`` orchestrations x 3 sequential activities, all started at once."""
    async with durable.Client(url, app=app) as client:
        handles = [await client.start(three_steps, i) for i in range(count)]
        began = time.perf_counter()
        async with durable.Worker(app, url):
            for i, handle in enumerate(handles):
                assert await handle.result(timeout=300) == i + 3
        wall = time.perf_counter() - began
    return {"wall s": wall, "orchestrations/s": count / wall, "activity steps/s": 3 * count / wall}


def fresh_url(folder: Path, name: str) -> str:
    return f"sqlite:///{folder / name}.db"


async def main() -> list[tuple[str, str, float]]:
    rows: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for repetition in range(1 if QUICK else 3):
            w1 = await w1_latency(fresh_url(folder, f"w1-{repetition}"), 50 if QUICK else 200)
            w2 = await w2_throughput(fresh_url(folder, f"w2-{repetition}"), 200 if QUICK else 1000)
            rows += [("W1", k, v) for k, v in w1.items()] + [("W2", k, v) for k, v in w2.items()]
    return rows


def table(rows: list[tuple[str, str, float]]) -> str:
    figures: dict[tuple[str, str], list[float]] = {}
    for workload, figure, value in rows:
        figures.setdefault((workload, figure), []).append(value)
    lines = ["| workload | store | figure | median of runs |", "| --- | --- | --- | ---: |"]
    for (workload, figure), values in figures.items():
        median = statistics.median(values)
        lines.append(f"| {workload} | SQLite (FULL) | {figure} | {median:,.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(anyio.run(main)))
    sys.exit(0)
