"""The worker says so when its event loop is blocked and when the store fails (issue 17, defect 6).

Before: an ``async def`` activity that blocked the loop froze the worker with no word, and a
failing store logged an ERROR at every fixed poll interval (49 lines in 10 s on a full disk).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Generator
from typing import Any

import pytest

import durable
from durable._errors import StoreError
from durable._worker import watchdog
from durable._worker.store_health import StoreHealth
from durable.stores.base import Store

app = durable.App()


@app.activity
async def blocks_the_loop(seconds: float) -> str:
    time.sleep(seconds)  # the misbehaviour under test: no await
    return "done"


@app.orchestrator
def calls_blocker(ctx: durable.OrchestrationContext) -> Generator[Any, Any, str]:
    return str((yield ctx.call_activity(blocks_the_loop, 0.8)))


async def test_a_blocked_loop_is_reported_with_where_it_blocks(
    store: Store, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watchdog, "STALL_SECONDS", 0.3)
    async with (
        durable.Client(store, app=app) as client,
        durable.Worker(app, store, poll_interval=0.05),
    ):
        handle = await client.start(calls_blocker)
        assert await handle.result(timeout=30) == "done"
    blocked = [r.getMessage() for r in caplog.records if "has been blocked" in r.getMessage()]
    assert len(blocked) == 1
    assert "test_worker_watchdog.py" in blocked[0] and "blocks_the_loop" in blocked[0]
    assert "runs again after" in caplog.text


def test_store_failures_back_off_and_are_logged_once_per_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="durable.worker")
    now = [0.0]
    health = StoreHealth(0.5, max_wait=30, clock=lambda: now[0])
    waits = []
    for n in range(49):  # a full disk: writes fail, reads and empty claims go through
        waits.append(health.failed(_full(f"claim_{n % 3}")))
        health.succeeded()
        now[0] += 0.2
    assert waits[0] < 2 and max(waits) <= 30 + 1 and waits[-1] > 10  # exponential, capped
    assert len(set(waits)) > 10  # with jitter
    health.failed(StoreError("disk I/O error"))
    health.succeeded()
    now[0] += 30
    health.succeeded()
    health.succeeded()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert "database or disk is full" in lines[0] and "disk I/O error" in lines[1]
    assert "store is back after 50 failed call(s)" in lines[2]


def _full(call: str) -> StoreError:
    """SQLite's full-disk error as the store raises it, met by ``call``."""
    error = StoreError(f"sqlite:///x.db: {call}: database or disk is full")
    error.__cause__ = sqlite3.OperationalError("database or disk is full")
    return error
