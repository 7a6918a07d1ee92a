"""W1-W5 of WORKLOADS.md against a running worker, measured from a client.

Each runner takes an open ``durable.Client`` whose store a worker serves (in the same process,
see ``benchmarks.child``) and returns its figures as ``{figure key: value}``. Times are
``time.perf_counter`` seconds; the keys are those of ``benchmarks.plan``.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import durable

from .app import MARKS, fan_out, one_step, sequential, sleeper, three_steps

#: generous: a result that takes this long is a hang, not a figure
RESULT_TIMEOUT = 900.0
WARM_UP_RUNS = 20

Figures = dict[str, float]
Runner = Callable[[durable.Client, int], Awaitable[Figures]]


async def warm_up(client: durable.Client) -> None:
    """20 three-step orchestrations in a row (as the peers do): imports, caches, connections."""
    for i in range(WARM_UP_RUNS):
        handle = await client.start(three_steps, i)
        assert await handle.result(timeout=RESULT_TIMEOUT) == i + 3


def cpu_s() -> float:
    """CPU seconds (user + system) this process used so far: on a busy machine, the Python
    work of a workload is read better here than in its wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mib() -> float:
    """This process's peak resident set so far, in MiB.

    ``VmHWM`` rather than ``ru_maxrss``: Linux keeps ``ru_maxrss`` across ``execve``, so a
    child's figure would start at its parent's size (the harness's, ~36 MiB) and hide a
    smaller peak. ``VmHWM`` belongs to the address space, which ``execve`` replaces.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def start_all(
    client: durable.Client, orchestrator: Callable[..., object], count: int
) -> list[durable.InstanceHandle]:
    """``count`` instances started at once (gathered, so the store may batch the creates)."""
    return list(await asyncio.gather(*(client.start(orchestrator, i) for i in range(count))))


async def w1_latency(client: durable.Client, runs: int) -> Figures:
    """One orchestration with one activity at a time, start to result; p50 and p99 in ms."""
    samples = []
    for i in range(runs):
        began = time.perf_counter()
        handle = await client.start(one_step, i)
        assert await handle.result(timeout=RESULT_TIMEOUT) == i + 1
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    p99_index = max(0, int(len(samples) * 0.99) - 1)
    return {"p50_ms": statistics.median(samples), "p99_ms": samples[p99_index]}


async def w2_throughput(client: durable.Client, count: int) -> Figures:
    """``count`` orchestrations x 3 activities, all started at once; timed from the first
    start to the last result (starts included, as the peers measure it)."""
    began = time.perf_counter()
    handles = await start_all(client, three_steps, count)
    started = time.perf_counter() - began
    results = await asyncio.gather(*(h.result(timeout=RESULT_TIMEOUT) for h in handles))
    wall = time.perf_counter() - began
    assert results == [i + 3 for i in range(count)]
    return {
        "wall_s": wall,
        "start_s": started,
        "orch_per_s": count / wall,
        "steps_per_s": 3 * count / wall,
    }


async def w3_long_history(client: durable.Client, steps: int) -> Figures:
    """One orchestration of ``steps`` sequential activities: total time, and the time of the
    last 100 steps over the first 100 (from the activities' start times: 1.0 = no growth)."""
    MARKS.clear()
    cpu, began = cpu_s(), time.perf_counter()
    handle = await client.start(sequential, steps)
    assert await handle.result(timeout=RESULT_TIMEOUT) == steps
    total, cpu = time.perf_counter() - began, cpu_s() - cpu
    window = min(100, len(MARKS) // 2)
    first = MARKS[window] - MARKS[0]
    last = MARKS[-1] - MARKS[-1 - window]
    return {
        "total_s": total,
        "growth": last / first,
        "ms_per_step": total / steps * 1000,
        "cpu_ms_per_step": cpu / steps * 1000,
    }


async def w4_fan_out(client: durable.Client, width: int) -> Figures:
    """One orchestration gathering ``width`` activities started at once: total time, and this
    process's peak RSS (the worker runs here; the process is fresh, see ``benchmarks.child``)."""
    before = peak_rss_mib()
    cpu, began = cpu_s(), time.perf_counter()
    handle = await client.start(fan_out, width)
    assert await handle.result(timeout=RESULT_TIMEOUT) == width * (width + 1) // 2
    total, cpu = time.perf_counter() - began, cpu_s() - cpu
    return {
        "total_s": total,
        "peak_rss_mib": peak_rss_mib(),
        "rss_before_mib": before,
        "cpu_ms_per_activity": cpu / width * 1000,
    }


async def w5_timers(client: durable.Client, count: int) -> Figures:
    """``count`` orchestrations that each sleep one second durably, started at once; and this
    process's CPU per timer (starts, fired episodes and results: steadier than the wall time
    on a busy machine, where the fired episodes queue for the CPU)."""
    cpu, began = cpu_s(), time.perf_counter()
    handles = await start_all(client, sleeper, count)
    await asyncio.gather(*(h.result(timeout=RESULT_TIMEOUT) for h in handles))
    total, cpu = time.perf_counter() - began, cpu_s() - cpu
    return {"total_s": total, "cpu_ms_per_timer": cpu / count * 1000}


async def e1_entities(client: durable.Client, signals: int) -> Figures:
    """Durable entities (``benchmarks.entity_bench``)."""
    from .entity_bench import e1_entities as run

    return await run(client, signals)


RUNNERS: dict[str, Runner] = {
    "E1": e1_entities,
    "W1": w1_latency,
    "W2": w2_throughput,
    "W3": w3_long_history,
    "W4": w4_fan_out,
    "W5": w5_timers,
}


def _add_talk() -> None:
    from .talk import w9_talk  # it imports this module's W1

    RUNNERS["W9"] = w9_talk


_add_talk()
