"""Entities across real worker processes (DESIGN 2a): operations on one entity run one at a
time, each exactly once, whichever process runs them and even when one is SIGKILLed; critical
sections under ``lock_entities`` keep an invariant and never deadlock. ``DURABLE_CHAOS=1``
(``make chaos``) kills 4 workers during the counter's run instead of 1."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

import durable
from durable import EntityId
from tests.chaos import report
from tests.chaos.entity_app import app, audit, bump, transfer
from tests.chaos.harness import Workers, tracebacks, worker_command

COMMAND = worker_command("tests.chaos.entity_app:app")
ORCHESTRATIONS = 50
TIMES = 20
TOTAL = ORCHESTRATIONS * TIMES
WAIT = 240
#: SIGKILLs of a worker during the counter's run (``make chaos``: more, each replaced)
KILLS = report.size(4, 1)


@pytest.mark.timeout(300)
async def test_a_counter_bumped_by_50_orchestrations_on_4_workers_ends_at_1000_despite_a_kill(
    store_url: str, tmp_path: Path
) -> None:
    workers = Workers(store_url, tmp_path / "ledger.db", tmp_path, command=COMMAND)
    counter = EntityId("Counter", "shared")
    try:
        async with durable.Client(store_url, app=app) as client:
            for _ in range(4):
                workers.start()
            handles = [
                await client.start(bump, "shared", TIMES, instance_id=f"bump-{i}")
                for i in range(ORCHESTRATIONS)
            ]
            for kill in range(1, KILLS + 1):  # the kills land in the middle of the run
                with anyio.fail_after(WAIT):
                    while (await client.get_entity(counter) or 0) < TOTAL * kill // (KILLS + 2):
                        await anyio.sleep(0.05)
                workers.kill(workers.live()[0])
                assert await client.get_entity(counter) < TOTAL
                if KILLS > 1:  # make chaos: a new worker takes the place of each one killed
                    workers.start()
            with anyio.fail_after(WAIT):
                results = [await handle.result() for handle in handles]
            assert max(results) == TOTAL
            assert len(set(results)) == ORCHESTRATIONS  # each saw its own last increment
            assert await client.get_entity(counter) == TOTAL
    finally:
        workers.stop_all()
    assert not tracebacks(tmp_path)


@pytest.mark.timeout(300)
async def test_transfers_under_lock_entities_keep_the_total_and_never_deadlock(
    store_url: str, tmp_path: Path
) -> None:
    workers = Workers(store_url, tmp_path / "ledger.db", tmp_path, command=COMMAND)
    try:
        async with durable.Client(store_url, app=app) as client:
            workers.start()
            workers.start()
            await client.signal_entity(EntityId("Account", "a"), "deposit", 50)
            await client.signal_entity(EntityId("Account", "b"), "deposit", 50)
            there = await client.start(transfer, "a", "b", 100)
            back = await client.start(transfer, "b", "a", 100)
            auditor = await client.start(audit, ["a", "b"], 30)
            with anyio.fail_after(WAIT):  # a deadlock would never end
                moved = [await there.result(), await back.result()]
                totals = await auditor.result()
            assert sum(moved) > 0
            assert totals == [100] * 30  # every observation, under the lock, sees the total
            a = await client.get_entity(EntityId("Account", "a"))
            b = await client.get_entity(EntityId("Account", "b"))
            assert a + b == 100
            assert a == 50 - moved[0] + moved[1]
    finally:
        workers.stop_all()
    assert not tracebacks(tmp_path)
