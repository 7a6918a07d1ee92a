"""Workers under misbehaving activities (issue 17, defect 6): bounded, and saying so.

Before: each timed-out sync attempt left its thread running and started a new one (+1 thread per
attempt, without bound or word).
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Any

import anyio
import anyio.to_thread
import pytest

import durable
from durable.stores.base import Store

app = durable.App()
release = threading.Event()
running = {"now": 0, "most": 0}
lock = threading.Lock()


@app.activity(retry=durable.RetryPolicy(max_attempts=1), timeout=0.05)
def stuck(n: int) -> int:
    with lock:
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
    try:
        release.wait(30)
    finally:
        with lock:
            running["now"] -= 1
    return n


@app.orchestrator
def calls_stuck(ctx: durable.OrchestrationContext, n: int) -> Generator[Any, Any, str]:
    try:
        yield ctx.call_activity(stuck, n)
    except durable.ActivityFailed as exc:
        return str(exc)
    return "returned"


async def test_timed_out_sync_attempts_keep_their_thread_slot_until_they_return(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    release.clear()
    worker = durable.Worker(app, store, max_concurrent_activities=2, poll_interval=0.05)
    async with durable.Client(store, app=app) as client, worker:
        first = [await client.start(calls_stuck, n) for n in range(2)]
        for handle in first:  # both attempts timed out; their threads still block
            assert "ran longer than" in await handle.result(timeout=30)
        more = await client.start(calls_stuck, 9)
        with anyio.move_on_after(0.5):  # no thread is free for it: it waits, not piles up
            await more.result()
        assert (await more.status()).status is durable.Status.RUNNING
        assert running["most"] == 2
        assert "its thread runs on" in caplog.text
        release.set()  # the stuck threads return: their slots free, the waiting attempt runs
        assert await more.result(timeout=30) == "returned"
    assert running["most"] == 2


started = threading.Event()
runs: list[str] = []


@app.activity(retry=durable.RetryPolicy(max_attempts=3, initial_interval=0.01))
def slow_first(key: str) -> str:
    runs.append(key)
    if len(runs) == 1:
        started.set()
        release.wait(30)  # the first attempt outlives its lease
    return f"run {len(runs)}"


@app.orchestrator
def calls_slow_first(ctx: durable.OrchestrationContext) -> Generator[Any, Any, str]:
    return str((yield ctx.call_activity(slow_first, "k")))


async def test_a_refused_stale_completion_logs_one_warning(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: the worker whose lease had passed on dropped its result without a word."""
    release.clear()
    started.clear()
    runs.clear()
    stale = durable.Worker(app, store_url, lease_seconds=0.3, poll_interval=0.05)
    async with durable.Client(store_url, app=app) as client, stale:

        async def renew_nothing(*args: Any, **kwargs: Any) -> None:
            return None

        stale.store.renew_leases = renew_nothing  # type: ignore[method-assign]  # a paused host
        handle = await client.start(calls_slow_first, instance_id="stale")
        await anyio.to_thread.run_sync(started.wait, 30)
        async with durable.Worker(app, store_url, lease_seconds=5, poll_interval=0.05):
            assert await handle.result(timeout=30) == "run 2"
        release.set()
        with anyio.fail_after(30):
            while "stale lease" not in caplog.text:
                await anyio.sleep(0.05)
    warnings = [r for r in caplog.records if "stale lease" in r.getMessage()]
    assert len(warnings) == 1
    assert "instance stale, task 0, attempt 1" in warnings[0].getMessage()
