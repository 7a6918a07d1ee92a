"""W6, scale-out: W2 with 50 ms activities, served by N worker processes.

The client runs here; the workers are ``benchmarks.worker_proc`` subprocesses, started and
ready (connected, claiming) before the clock starts. The end of the run is the latest
``updated_at`` of the instances (when the last one completed in the store), so that how soon
the client in another process hears of the last completion is not part of the figure.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from anyio.abc import Process

import durable

from .app import app, three_slow_steps, three_steps
from .workloads import RESULT_TIMEOUT, Figures, start_all

READY_TIMEOUT = 60.0
#: each worker's activity slots (WORKLOADS.md): one worker is bound by them, 160 steps/s at most
SLOTS_PER_WORKER = 8
ROOT = Path(__file__).resolve().parent.parent


async def scale_out(url: str, count: int, workers: int) -> Figures:
    """``count`` three-step orchestrations with 50 ms activities on ``workers`` processes."""
    async with worker_processes(url, workers), durable.Client(url, app=app) as client:
        # warm-up: enough instances that every worker gets some
        await wait_all(await start_all(client, three_steps, 20 * workers))
        began_wall, began = time.time(), time.perf_counter()
        handles = await start_all(client, three_slow_steps, count)
        finished_at = await wait_all(handles)
        waited = time.perf_counter() - began
    stored = finished_at - began_wall
    # the store's clock is this machine's; fall back to the time waited if it looks wrong
    wall = stored if 0 < stored <= waited + 0.01 else waited
    return {"wall_s": wall, "steps_per_s": 3 * count / wall}


async def wait_all(handles: list[durable.InstanceHandle]) -> float:
    """Wait until every instance completed; the latest completion time (epoch seconds).

    ``result()`` waits on the store's wake-ups (LISTEN/NOTIFY on PostgreSQL), so the client
    loads the machine the workers share with nothing but those; the statuses are read after.
    """
    with anyio.fail_after(RESULT_TIMEOUT):
        await asyncio.gather(*(handle.result() for handle in handles))
    statuses = await asyncio.gather(*(handle.status() for handle in handles))
    for handle, status in zip(handles, statuses, strict=True):
        if status.status is not durable.Status.COMPLETED:
            raise RuntimeError(f"{handle.instance_id} ended {status.status}: {status.error}")
    return max(status.updated_at.timestamp() for status in statuses)


@asynccontextmanager
async def worker_processes(url: str, count: int) -> AsyncIterator[list[Process]]:
    """``count`` worker processes, each ready; SIGTERM (then SIGKILL) on the way out."""
    command = [sys.executable, "-m", "benchmarks.worker_proc", url, str(SLOTS_PER_WORKER)]
    processes: list[Process] = []
    try:
        for _ in range(count):
            processes.append(
                await anyio.open_process(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=None)
            )
        with anyio.fail_after(READY_TIMEOUT):
            for process in processes:
                await wait_ready(process)
        yield processes
    finally:
        with anyio.CancelScope(shield=True):
            for process in processes:
                await stop(process)


async def wait_ready(process: Process) -> None:
    assert process.stdout is not None
    seen = b""
    async for chunk in process.stdout:
        seen += chunk
        if b"READY" in seen:
            return
    raise RuntimeError(f"worker process {process.pid} exited before it was ready")


async def stop(process: Process) -> None:
    if process.returncode is None:
        process.terminate()
    with anyio.move_on_after(30):
        await process.wait()
    if process.returncode is None:
        process.kill()
    await process.aclose()
