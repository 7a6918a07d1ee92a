"""W9: talking to running instances: update round trips (next to W1's latency, measured in the
same process and run) and durable stream values per second, from writer to reader.

The update round trip is ``await handle.update(...)`` from send to answer, one at a time, on an
instance that waits for updates (``benchmarks.app.counter``); the target is under twice W1's p50
(a start, one activity and a result). The stream figure is an activity writing ``size * 10``
values while a client reads them, from the start to the last value read.
"""

from __future__ import annotations

import statistics
import time

import durable

from .app import counter, streamer
from .workloads import RESULT_TIMEOUT, Figures, w1_latency


async def w9_talk(client: durable.Client, runs: int) -> Figures:
    w1 = await w1_latency(client, runs)
    handle = await client.start(counter, runs + 5)
    for _ in range(5):  # the instance is running and cached before the timing starts
        await handle.update("add", 0, timeout=RESULT_TIMEOUT)
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        await handle.update("add", 1, timeout=RESULT_TIMEOUT)
        samples.append((time.perf_counter() - began) * 1000)
    update_p50 = statistics.median(samples)
    values = runs * 10
    began = time.perf_counter()
    streaming = await client.start(streamer, values)
    read = 0
    async for value in streaming.read_stream("tokens"):
        assert value == read
        read += 1
    elapsed = time.perf_counter() - began
    assert read == values
    return {
        "w1_p50_ms": w1["p50_ms"],
        "update_p50_ms": update_p50,
        "update_over_w1": update_p50 / w1["p50_ms"],
        "stream_values_per_s": values / elapsed,
    }
