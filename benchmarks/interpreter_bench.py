"""Micro-benchmark of the pure interpreter (no store, no asyncio).

Run it with ``python -m benchmarks.interpreter_bench``.

1. Incremental cost: applying one new ``ActivityCompleted`` to a live ``Orchestration`` whose
   history holds ~10 events vs ~10,000 events (sequential activities). A cached generator must
   make each new event cost the same whatever the history's length (DESIGN section 3): the
   ratio should be ~1.
2. Full replay: constructing an ``Orchestration`` from a 10,000-event history (a cache miss);
   target < 100 ms. When it is slower, the top entries of a cProfile run are printed.

Each figure is the median of several runs, timed with ``time.perf_counter``.
"""

from __future__ import annotations

import cProfile
import gc
import io
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Generator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from durable import _events as ev
from durable._core.interpreter import Orchestration
from durable._core.registry import App

QUICK = os.environ.get("DURABLE_BENCH_QUICK", "") not in ("", "0")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
REPLAY_TARGET_MS = 100.0
BIG_EVENTS = 10_000
SMALL_EVENTS = 10

app = App()


@app.activity
def step(x: int) -> int:
    return x + 1


@app.orchestrator
def sequential(ctx: Any, n: int) -> Generator[Any, Any, int]:
    total = 0
    for i in range(n):
        total += yield ctx.call_activity(step, i)
    return total


def completion(task_id: int) -> ev.ActivityCompleted:
    return ev.ActivityCompleted(task_id=task_id, result=str(task_id + 1))


def start(n: int) -> ev.ExecutionStarted:
    payload = app.serializer.encode_call(sequential.fn, "sequential", [n], {}, skip_first=True)
    return ev.ExecutionStarted(name="sequential", input=payload)


def live_with_history(events: int, total_activities: int) -> tuple[Orchestration, int]:
    """A live Orchestration of ``sequential(total_activities)`` whose history holds ~``events``
    events (2 per completed activity), and the task id it waits for next."""
    o = Orchestration(app, "bench")
    now = T0
    o.apply([start(total_activities)], now)
    task_id = 0
    while o.version < events - 1:
        now += timedelta(milliseconds=1)
        o.apply([completion(task_id)], now)
        task_id += 1
    return o, task_id


def history_of(events: int) -> list[ev.HistoryEvent]:
    """A history of ~``events`` events, recorded by a live run."""
    o = Orchestration(app, "bench")
    history: list[ev.HistoryEvent] = list(o.apply([start(events)], T0).events)
    task_id = 0
    while len(history) < events - 1:
        history += o.apply([completion(task_id)], T0 + timedelta(microseconds=task_id)).events
        task_id += 1
    o.close()
    return history


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of ``fn`` takes (the garbage collector paused)."""
    gc.disable()
    try:
        began = time.perf_counter()
        fn()
        return time.perf_counter() - began
    finally:
        gc.enable()


def incremental(samples: int) -> tuple[list[float], list[float]]:
    """Apply times with ~10 and with ~10,000 events of history, the samples interleaved so that
    noise from the machine hits both alike.

    Small: one apply each on a fresh live instance (its history stays ~10 events). Big:
    successive applies on one live instance (its history grows from ~10,000 by 2 per apply).
    """
    big, next_big = live_with_history(BIG_EVENTS, total_activities=BIG_EVENTS + samples + 100)
    small_times, big_times = [], []
    for i in range(samples):
        o, task_id = live_with_history(SMALL_EVENTS, total_activities=100)
        small_times.append(timed(partial(o.apply, [completion(task_id)], T0)))
        o.close()
        big_times.append(timed(partial(big.apply, [completion(next_big + i)], T0)))
    big.close()
    return small_times, big_times


def replay(history: list[ev.HistoryEvent], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        o = Orchestration(app, "bench", history)
        out.append(time.perf_counter() - began)
        o.close()
    return out


def profile_replay(history: list[ev.HistoryEvent], top: int = 15) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    Orchestration(app, "bench", history).close()
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(top)
    return text.getvalue()


def main() -> int:
    samples = 50 if QUICK else 300
    runs = 3 if QUICK else 7
    small_times, big_times = incremental(samples)
    small, big = statistics.median(small_times), statistics.median(big_times)
    history = history_of(BIG_EVENTS)
    replay_s = statistics.median(replay(history, runs))
    replay_ms = replay_s * 1000
    print("## Interpreter micro-benchmark\n")
    print(f"median of {samples} applies (incremental) and of {runs} replays\n")
    print("| measure | history events | median | note |")
    print("| --- | ---: | ---: | --- |")
    print(f"| apply 1 ActivityCompleted (live) | ~{SMALL_EVENTS} | {small * 1e6:.1f} µs | |")
    print(
        f"| apply 1 ActivityCompleted (live) | ~{BIG_EVENTS:,} | {big * 1e6:.1f} µs "
        f"| ratio {big / small:.2f} vs ~{SMALL_EVENTS} events |"
    )
    verdict = "ok" if replay_ms < REPLAY_TARGET_MS else "SLOWER than target"
    print(
        f"| full replay (construct Orchestration) | {len(history):,} | {replay_ms:.1f} ms "
        f"| target < {REPLAY_TARGET_MS:.0f} ms: {verdict}; "
        f"{replay_s / len(history) * 1e6:.2f} µs/event |"
    )
    if replay_ms >= REPLAY_TARGET_MS:
        print("\nReplay profile (cumulative):\n")
        print(profile_replay(history))
    return 0


if __name__ == "__main__":
    sys.exit(main())
