"""Poison episodes (issue 17, defect 3; DESIGN 4a): an instance whose episodes kill the worker
process, or run past the episode timeout, ends FAILED after ``max_episode_attempts`` instead of
crash-looping, and the other instances complete meanwhile.

Before: the instance was claimed again first after every crash, 0 of 5 healthy instances
completed, and a crash in the episode after an activity made the activity run again forever.
"""

from __future__ import annotations

import contextlib
import re
import time
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import Any

import anyio
import pytest

import durable
from durable import Status
from durable._worker.poison import ERROR_TYPE
from tests.chaos import poison_app
from tests.chaos.harness import Workers, ledger_counts, worker_command
from tests.chaos.worker_app import open_ledger

ATTEMPTS = 3
#: the poison profile: short leases so that each crash is noticed in half a second
COMMAND = worker_command(
    "tests.chaos.poison_app:app",
    "--lease", "0.5", "--max-episode-attempts", str(ATTEMPTS),
)  # fmt: skip


async def _supervise(workers: Workers, done: anyio.Event) -> None:
    """Keep one worker process running (restart it when an episode kills it) until ``done``."""
    while not done.is_set():
        if not workers.live():
            workers.start()
        with anyio.move_on_after(0.05):
            await done.wait()


async def _finished(handle: durable.InstanceHandle) -> durable.InstanceStatus:
    """The status of the instance once it has finished, however it ended."""
    with contextlib.suppress(durable.OrchestrationFailed):
        await handle.result(timeout=90)
    return await handle.status()


async def _results(
    client: durable.Client, ids: list[str], workers: Workers
) -> dict[str, durable.InstanceStatus]:
    done = anyio.Event()
    statuses: dict[str, durable.InstanceStatus] = {}
    async with anyio.create_task_group() as tg:
        tg.start_soon(_supervise, workers, done)
        with anyio.fail_after(90):
            for instance_id in ids:
                statuses[instance_id] = await _finished(client.get(instance_id))
        done.set()
    return statuses


@pytest.mark.timeout(150)
async def test_a_crashing_episode_fails_its_instance_and_the_others_complete(
    store_url: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.db"
    open_ledger(str(ledger)).close()
    workers = Workers(store_url, ledger, tmp_path, COMMAND)
    try:
        async with durable.Client(store_url, app=poison_app.app) as client:
            await client.start(poison_app.crash_at_once, 0, instance_id="poison")
            await client.start(poison_app.crash_after_step, 0, instance_id="after-step")
            for n in range(5):
                await client.start(poison_app.healthy, n, instance_id=f"healthy-{n}")
            ids = ["poison", "after-step", *(f"healthy-{n}" for n in range(5))]
            statuses = await _results(client, ids, workers)
            for n in range(5):
                assert await client.get(f"healthy-{n}").result() == n + 1
            for poisoned in ("poison", "after-step"):
                status = statuses[poisoned]
                assert status.status is Status.FAILED, status
                assert status.error is not None and ERROR_TYPE in status.error
                # every claim that never came back counts: when the other poison instance's
                # crash kills a worker between this one's claim and its look at the count, the
                # count passes the cap by one
                crashes = re.search(r"(\d+) times in a row", status.error)
                assert crashes is not None and int(crashes[1]) >= ATTEMPTS, status.error
                assert f"max_episode_attempts={ATTEMPTS}" in status.error
                history = await client.get(poisoned).history()
                assert [e.seq for e in history] == list(range(len(history)))
                assert history[-1].kind == "ExecutionFailed"
    finally:
        workers.stop_all()
    runs = ledger_counts(ledger)
    # at least once, and not forever: the first attempt's result died with the episode after
    # it; the second attempt's result went to the inbox alone and the claims counted from there
    # (each crash of the other poison instance, at most ATTEMPTS + 1, may kill one in flight)
    assert 2 <= runs[("after-step", 0)] <= 2 + ATTEMPTS + 1
    assert all(runs[(f"healthy-{n}", 0)] >= 1 for n in range(5))  # killed with the others


app = durable.App()


def slow_episode(ctx: durable.OrchestrationContext, seconds: float) -> Generator[Any, Any, str]:
    time.sleep(seconds)  # the misbehaviour under test: it blocks the worker's loop
    yield ctx.sleep(0)
    return "late"


with warnings.catch_warnings():  # its registration rightly warns about time.sleep
    warnings.simplefilter("ignore")
    app.orchestrator(slow_episode)


@app.orchestrator
def quick(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    yield ctx.sleep(0)
    return x


async def test_an_episode_past_the_timeout_counts_as_a_crash(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    worker = durable.Worker(
        app,
        store_url,
        lease_seconds=0.3,
        poll_interval=0.05,
        episode_timeout=0.05,
        max_episode_attempts=2,
    )
    async with durable.Client(store_url, app=app) as client, worker:
        slow = await client.start(slow_episode, 0.1, instance_id="slow")
        fine = await client.start(quick, 7, instance_id="quick")
        assert await fine.result(timeout=30) == 7
        status = await _finished(slow)
        assert status.status is Status.FAILED
        assert status.error is not None and "2 times in a row" in status.error
    assert "past the episode timeout" in caplog.text


@pytest.mark.timeout(120)
async def test_user_code_never_runs_under_the_store_write_lock(
    store_url: str, tmp_path: Path
) -> None:
    """Defect 4: an orchestrator that blocked (``time.sleep(20)``) made other processes'
    ``client.start`` fail with "database is locked" after 15 s. Decide-then-commit runs user
    code before any store call: a start from another process goes through at once."""
    marker = tmp_path / "blocking"
    ledger = tmp_path / "ledger.db"
    open_ledger(str(ledger)).close()
    workers = Workers(store_url, ledger, tmp_path, COMMAND, env={"DURABLE_MARKER": str(marker)})
    workers.start()
    try:
        async with durable.Client(store_url, app=poison_app.app) as client:
            blocked = await client.start(poison_app.blocks_its_worker, 8.0)
            with anyio.fail_after(60):
                while not marker.exists():
                    await anyio.sleep(0.05)
            began = time.monotonic()
            for n in range(5):
                await client.start(poison_app.healthy, n)
            assert time.monotonic() - began < 2.0  # not waiting on the blocked worker's lock
            assert await blocked.result(timeout=60) == "unblocked"
    finally:
        workers.stop_all()
