"""``@app.activity(executor="process")`` (docs/cpu-bound.md): attempts in the worker's process pool,
arguments and result as JSON, a timeout kills the process and the worker keeps serving; on
SQLite and PostgreSQL, with the worker in this process and in a ``durable worker`` process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import durable
from samples.cpu_bound import app, primes_below, runaway
from tests.chaos.harness import Workers, worker_command


@dataclass(frozen=True)
class Box:
    label: str
    sizes: tuple[int, ...]


typed = durable.App()


@typed.activity(executor="process")
def measure(box: Box, scale: float) -> dict[str, Any]:
    """Runs in a pool process: the dataclass arrives decoded by the type hints."""
    assert isinstance(box, Box) and isinstance(box.sizes, tuple)
    return {"label": box.label.upper(), "total": sum(box.sizes) * scale, "pid": os.getpid()}


@typed.activity(executor="process", retry=durable.RetryPolicy(non_retryable=[KeyError]))
def lookup(key: str) -> str:
    return {"a": "found"}[key]


@typed.activity(executor="process", retry=durable.RetryPolicy(max_attempts=1))
def crash(code: int) -> None:
    os._exit(code)  # the process dies without answering (as after a segfault or an OOM kill)


@typed.orchestrator
def crashing(ctx: durable.OrchestrationContext) -> Any:
    try:
        yield ctx.call_activity(crash, 3)
    except durable.ActivityFailed as exc:
        return exc.error_type, exc.message


@typed.orchestrator
def boxes(ctx: durable.OrchestrationContext, box: Box) -> Any:
    measured = yield ctx.call_activity(measure, box, 1.5)
    try:
        yield ctx.call_activity(lookup, "missing")
    except durable.ActivityFailed as exc:
        return measured, exc.error_type, exc.attempts


async def test_a_runaway_activity_is_killed_and_the_worker_keeps_serving(store_url: str) -> None:
    worker = durable.Worker(app, store_url, max_processes=2)
    async with worker, durable.Client(store_url, app=app) as client:
        stuck = await client.start(runaway)
        assert await stuck.result(timeout=60) == "stopped: TimeoutError"
        pool = worker._processes
        assert pool is not None and pool.killed == 1
        # the same worker serves on, in new processes of its pool
        assert await (await client.start(primes_below, 1000, 4)).result(timeout=60) == 168


async def test_arguments_and_results_cross_as_json(store_url: str) -> None:
    async with durable.Worker(typed, store_url), durable.Client(store_url, app=typed) as client:
        handle = await client.start(boxes, Box("parcel", (1, 2, 3)))
        measured, error_type, attempts = await handle.result(timeout=60)
    assert measured["label"] == "PARCEL" and measured["total"] == 9.0
    assert measured["pid"] != os.getpid()
    assert (error_type, attempts) == ("KeyError", 1)  # non_retryable by its type


async def test_a_process_that_dies_fails_the_attempt_and_the_worker_serves_on(
    store_url: str,
) -> None:
    async with durable.Worker(typed, store_url), durable.Client(store_url, app=typed) as client:
        error_type, message = await (await client.start(crashing)).result(timeout=60)
        assert error_type == "ChildProcessError" and "exit code 3" in message
        measured, *_ = await (await client.start(boxes, Box("b", (1,)))).result(timeout=60)
        assert measured["total"] == 1.5


async def test_a_worker_process_runs_the_pool(store_url: str, tmp_path: Path) -> None:
    command = worker_command("samples.cpu_bound:app", "--max-processes", "1")
    workers = Workers(store_url, tmp_path / "ledger", tmp_path, command)
    workers.start()
    try:
        async with durable.Client(store_url, app=app) as client:
            stuck = await client.start(runaway)
            count = await client.start(primes_below, 1000, 2)
            assert await stuck.result(timeout=60) == "stopped: TimeoutError"
            assert await count.result(timeout=60) == 168
    finally:
        workers.stop_all()


def _nested() -> Any:
    def inner() -> int:
        return 1

    return inner


async def _coroutine() -> int:
    return 1


@pytest.mark.parametrize(
    ("fn", "options", "message"),
    [
        (_nested(), {}, "top level of a module"),
        (_coroutine, {}, "plain \\(sync\\) function"),
        (lambda: 1, {}, "top level of a module"),
        (len, {"executor": "gpu"}, "executor='gpu'"),
    ],
)
def test_process_activities_are_checked_at_registration(
    fn: Any, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(durable.ConfigurationError, match=message):
        durable.App().activity(**{"executor": "process", **options})(fn)


def test_max_processes_is_checked() -> None:
    with pytest.raises(durable.ConfigurationError, match="max_processes=0"):
        durable.Worker(app, "memory://", max_processes=0)
