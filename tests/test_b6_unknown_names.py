"""B6 of RELIABILITY.md, unknown orchestrator or activity names, against a real ``durable worker``.

- A client holding the App refuses an unknown name with ``ConfigurationError`` listing the
  registered names, and writes nothing.
- An instance started by a name no worker registers stays ``PENDING`` (the documented choice:
  docs/concepts/workers-and-clients.md, docs/troubleshooting.md): another deployment may serve it.
- An activity scheduled under a name the worker does not register waits in the store, unclaimed;
  an orchestrator calling an activity name its own App does not register fails with
  ``ConfigurationError`` naming it (the line that raised fails that instance only).
- Meanwhile the worker does not spin: under 10% of a CPU and at most 1 log line/s (at the
  default ``info`` level) over a window of 3 s (10 s with ``DURABLE_CHAOS=1``), and it still
  serves the work it knows.

The worker process imports this module for its App (``tests.test_b6_unknown_names:worker_app``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Generator
from pathlib import Path
from typing import Any

import anyio
import pytest

import durable
from durable import OrchestrationContext, Status
from tests.chaos import report
from tests.chaos.harness import Workers, store_kind, tracebacks, worker_command

WINDOW = 10.0 if report.FULL else 3.0  # seconds the worker's CPU and log lines are measured
WAIT = 60.0  # generous: a worker process's start on a loaded 2-core machine
MAX_CPU = 0.10
MAX_LINES_PER_S = 1.0

#: what the worker process serves
worker_app = durable.App()
#: another deployment's code: the worker process registers none of it
other_app = durable.App()


@worker_app.activity
def shout(text: str) -> str:
    return text.upper()


@worker_app.orchestrator
def echo(ctx: OrchestrationContext, text: str) -> Generator[Any, Any, str]:
    loud: str = yield ctx.call_activity(shout, text)
    return loud


@worker_app.orchestrator
def calls_nowhere(ctx: OrchestrationContext, n: int) -> Generator[Any, Any, Any]:
    return (yield ctx.call_activity("nowhere_step", n))  # registered by no App


@other_app.activity
def render(n: int) -> int:
    return n * 2


@other_app.orchestrator
def hand_off(ctx: OrchestrationContext, n: int) -> Generator[Any, Any, int]:
    rendered: int = yield ctx.call_activity(render, n)
    return rendered


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` and its descendants so far, by /proc."""
    ticks, pending = 0, [pid]
    while pending:
        proc = Path(f"/proc/{pending.pop()}")
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
            for task in (proc / "task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # a child that ended meanwhile
    return ticks / os.sysconf("SC_CLK_TCK")


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float = WAIT) -> None:
    with anyio.fail_after(timeout):
        while not await predicate():
            await anyio.sleep(0.05)


async def has_status(handle: durable.InstanceHandle, status: Status) -> bool:
    return (await handle.status()).status is status


async def test_a_client_holding_the_app_names_the_registered_orchestrators(store_url: str) -> None:
    async with durable.Client(store_url, app=worker_app) as client:
        with pytest.raises(durable.ConfigurationError) as by_name:
            await client.start("no_such_flow", 1)
        message = str(by_name.value)
        assert "no_such_flow" in message
        assert "registered orchestrators: calls_nowhere, echo" in message
        with pytest.raises(durable.ConfigurationError, match=r"hand_off.*calls_nowhere, echo"):
            await client.start(hand_off, 1)  # a function of another App
        assert await client.list() == []  # nothing was written


@pytest.mark.timeout(180)
async def test_unknown_names_wait_or_fail_and_the_worker_does_not_spin(
    store_url: str, tmp_path: Path
) -> None:
    command = worker_command("tests.test_b6_unknown_names:worker_app", "--log-level", "info")
    workers = Workers(store_url, tmp_path / "ledger.db", tmp_path, command=command)
    try:
        async with (
            durable.Client(store_url, app=worker_app) as client,
            durable.Client(store_url) as bare,  # no App: names are not checked at start
        ):
            worker = workers.start()
            with anyio.fail_after(WAIT):  # the worker is up and serving
                assert await (await client.start(echo, "up")).result() == "UP"

            orphan = await bare.start("written_elsewhere", 1)
            waiting = await bare.start("hand_off", 21)
            failing = await client.start(calls_nowhere, 1)
            with pytest.raises(durable.OrchestrationFailed):
                await failing.result(timeout=WAIT)
            error = str((await failing.status()).error)
            assert "ConfigurationError" in error and "nowhere_step" in error
            assert "registered activities: shout" in error

            # another deployment's worker runs hand_off's first episode, which schedules
            # `render` on the default queue, then goes away: `render` waits for a worker
            # that registers it, and the worker process does not
            async with durable.Worker(
                other_app, store_url, queues=("unserved",), poll_interval=0.05
            ):
                await wait_until(lambda: has_status(waiting, Status.RUNNING))
            assert [e.kind for e in await waiting.history()][-1] == "ActivityScheduled"

            log = tmp_path / "worker-0.log"
            cpu0, size0, t0 = cpu_seconds(worker.pid), log.stat().st_size, time.monotonic()
            await anyio.sleep(WINDOW)  # the measuring window itself
            cpu1, t1 = cpu_seconds(worker.pid), time.monotonic()
            with log.open("rb") as out:
                out.seek(size0)
                lines = out.read().count(b"\n")
            elapsed = t1 - t0
            assert cpu0 > 0, "not the worker's pid: its start-up took CPU time"
            assert b"started on" in log.read_bytes()[:size0], "the worker logs at info"
            cpu_share, lines_per_s = (cpu1 - cpu0) / elapsed, lines / elapsed
            print(
                f"B6 {store_kind(store_url)}: worker CPU {cpu_share:.1%} over {elapsed:.1f} s, "
                f"{lines} log lines ({lines_per_s:.2f}/s)"
            )
            report.record(
                test=(
                    f"B6 unknown names (worker CPU {cpu_share:.1%} over {elapsed:.0f} s, "
                    f"{lines_per_s:.2f} log lines/s)"
                ),
                store=store_kind(store_url),
                window=round(elapsed, 1),
                cpu_percent=round(cpu_share * 100, 2),
                log_lines_per_s=round(lines_per_s, 2),
            )

            assert worker.poll() is None, "the worker process ended"
            assert (await orphan.status()).status is Status.PENDING
            assert await orphan.history() == []
            assert (await waiting.status()).status is Status.RUNNING
            assert [e.kind for e in await waiting.history()][-1] == "ActivityScheduled"
            assert cpu_share < MAX_CPU, f"the worker spins: {cpu_share:.1%} of a CPU"
            assert lines_per_s <= MAX_LINES_PER_S, log.read_text()[-2000:]
            with anyio.fail_after(WAIT):  # and it still serves what it knows
                assert await (await client.start(echo, "still")).result() == "STILL"
    finally:
        workers.stop_all()
    assert not tracebacks(tmp_path)
