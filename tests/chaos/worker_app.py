"""The crash tests' app: ``python -m durable worker tests.chaos.worker_app:app --store URL``.

Its ledger activity appends each execution to a side SQLite file (synchronous=FULL), so the
checker counts real executions independently of the store (RELIABILITY.md section 4).
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Generator
from typing import Any

import durable

app = durable.App()
LEDGER = os.environ.get("DURABLE_LEDGER", "ledger.db")


def open_ledger(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=60)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute(
        "CREATE TABLE IF NOT EXISTS ledger"
        "(instance_id TEXT, step INT, attempt INT, pid INT, t_start REAL, t_end REAL)"
    )
    return connection


@app.activity(retry=durable.RetryPolicy(max_attempts=20, initial_interval=0.05, max_interval=0.2))
def ledger_step(instance_id: str, step: int, x: int) -> int:
    started = time.time()
    if random.random() < 0.1:
        time.sleep(0.05)
    return _ledger_run(instance_id, step, x, started)


def _ledger_run(instance_id: str, step: int, x: int, started: float) -> int:
    connection = open_ledger(LEDGER)
    with connection:
        connection.execute(
            "INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?)",
            (instance_id, step, durable.activity_info().attempt, os.getpid(), started, time.time()),
        )
    connection.close()
    return x + 1


@app.orchestrator
def three_steps(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    a = yield ctx.call_activity(ledger_step, ctx.instance_id, 0, x)
    yield ctx.sleep(0.05)  # a durable timer pending at some of the kills
    b = yield ctx.call_activity(ledger_step, ctx.instance_id, 1, a)
    c = yield ctx.call_activity(ledger_step, ctx.instance_id, 2, b)
    return int(c)


@app.orchestrator
def kitchen_child(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    return int((yield ctx.call_activity(ledger_step, ctx.instance_id, 1, x)))


@app.orchestrator
def kitchen(ctx: durable.OrchestrationContext, x: int, run: int = 0) -> Generator[Any, Any, Any]:
    """Every effect of F1b: activity, timer, event, child, continue-as-new; returns x + 4."""
    if run == 1:
        return int((yield ctx.call_activity(ledger_step, ctx.instance_id, 2, x)))
    a = yield ctx.call_activity(ledger_step, ctx.instance_id, 0, x)
    yield ctx.sleep(0.2)
    b = yield ctx.wait_for_event("go")
    c = yield ctx.call_sub_orchestrator(kitchen_child, int(a) + int(b))
    return ctx.continue_as_new(int(c), 1)


@app.activity
def slow_ledger_step(instance_id: str, step: int, x: int, seconds: float) -> int:
    """``ledger_step`` that takes ``seconds`` (a pause of its worker outlives the lease)."""
    started = time.time()
    time.sleep(seconds)
    return _ledger_run(instance_id, step, x, started)


@app.orchestrator
def one_slow_step(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    return int((yield ctx.call_activity(slow_ledger_step, ctx.instance_id, 0, x, 3.0)))


@app.orchestrator
def eternal(ctx: durable.OrchestrationContext, n: int, until: int) -> Generator[Any, Any, Any]:
    """The soak's eternal orchestration: continue-as-new ``until`` times."""
    yield ctx.sleep(0)
    if n < until:
        return ctx.continue_as_new(n + 1, until)
    return n


@app.orchestrator
def three_slow_steps(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    """W6-like (C2): three 50 ms ledger steps."""
    for step in range(3):
        x = yield ctx.call_activity(slow_ledger_step, ctx.instance_id, step, x, 0.05)
    return int(x)


@app.orchestrator
def timed(ctx: durable.OrchestrationContext, seconds: float) -> Generator[Any, Any, Any]:
    """T1: a durable sleep, and ``ctx.now()`` before it (the same on every replay)."""
    before = yield ctx.now()
    yield ctx.sleep(seconds)
    return before.isoformat()
