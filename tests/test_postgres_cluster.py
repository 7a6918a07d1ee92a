"""PostgreSQL with several worker processes: scale-out, workers killed, the server restarted.

Worker processes are real (``tests/chaos/worker_app.py``), started and killed by recorded pid;
the ledger counts each activity's real executions independently of the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import durable
from tests.chaos.harness import Workers, check_history, ledger_counts, ledger_pids, tracebacks
from tests.chaos.worker_app import app, open_ledger, three_steps

from .pg_server import PostgresServer

CONCURRENCY = 8  # per worker process (worker_app.py)


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    open_ledger(str(path)).close()
    return path


@pytest.fixture
def workers(pg_server: PostgresServer, ledger: Path, tmp_path: Path) -> Iterator[Workers]:
    group = Workers(
        f"{pg_server.url}?schema=cluster_{tmp_path.name[-12:].lower()}", ledger, tmp_path
    )
    try:
        yield group
    finally:
        group.stop_all()


async def run_all(client: durable.Client, first: int, count: int) -> list[durable.InstanceHandle]:
    return [
        await client.start(three_steps, i, instance_id=f"scale-{i}")
        for i in range(first, first + count)
    ]


async def wait_for_results(handles: list[durable.InstanceHandle], timeout: float) -> None:
    with anyio.fail_after(timeout):
        results = [await handle.result() for handle in handles]
    first = int(handles[0].instance_id.rsplit("-", 1)[1])
    assert results == [i + 3 for i in range(first, first + len(handles))]
    for handle in handles:
        check_history(await handle.history())


async def wait_for_ledger(ledger: Path, rows: int, timeout: float = 60.0) -> None:
    with anyio.fail_after(timeout):
        while sum(ledger_counts(ledger).values()) < rows:
            await anyio.sleep(0.05)


@pytest.mark.timeout(240)
async def test_four_workers_share_the_work_none_twice_and_two_killed_lose_nothing(
    workers: Workers, ledger: Path, tmp_path: Path
) -> None:
    async with durable.Client(workers.store_url, app=app) as client:
        processes = [workers.start() for _ in range(4)]
        # phase 1: no faults, so no activity may run twice, and every worker takes some
        handles = await run_all(client, 0, 120)
        await wait_for_results(handles, 90)
        counts = ledger_counts(ledger)
        assert len(counts) == 360 and set(counts.values()) == {1}
        assert ledger_pids(ledger) == {p.pid for p in processes}
        # phase 2: kill two workers mid-run; the other two (and lease expiry) finish the work
        more = await run_all(client, 120, 120)
        await wait_for_ledger(ledger, 360 + 60)
        workers.kill(processes[0])
        workers.kill(processes[1])
        await wait_for_results(more, 120)
    counts = ledger_counts(ledger)
    assert set(counts) == {(f"scale-{i}", s) for i in range(240) for s in range(3)}
    duplicates = sum(counts.values()) - len(counts)
    print(f"ledger: {sum(counts.values())} executions, {duplicates} duplicates")
    assert duplicates <= 2 * CONCURRENCY
    assert not tracebacks(tmp_path)


@pytest.mark.timeout(240)
async def test_a_server_restarted_mid_run_loses_nothing(ledger: Path, tmp_path: Path) -> None:
    with PostgresServer() as server:
        group = Workers(server.url, ledger, tmp_path)
        try:
            async with durable.Client(server.url, app=app) as client:
                group.start()
                group.start()
                handles = await run_all(client, 0, 150)
                await wait_for_ledger(ledger, 100)
                await anyio.to_thread.run_sync(server.restart, "immediate")
                await wait_for_ledger(ledger, 250)
                await anyio.to_thread.run_sync(server.restart, "fast")
                # a start while the server is down waits for it (within the retry budget)
                server.stop("immediate")
                async with anyio.create_task_group() as group_tasks:

                    async def start_late() -> None:
                        handles.extend(await run_all(client, 150, 10))

                    group_tasks.start_soon(start_late)
                    await anyio.sleep(0.5)
                    await anyio.to_thread.run_sync(server.start)
                await wait_for_results(handles, 120)
            assert all(proc.poll() is None for proc in group.procs), "a worker died"
        finally:
            group.stop_all()
    counts = ledger_counts(ledger)
    assert set(counts) == {(f"scale-{i}", s) for i in range(160) for s in range(3)}
    print(f"ledger: {sum(counts.values())} executions, {sum(counts.values()) - len(counts)} dup")
