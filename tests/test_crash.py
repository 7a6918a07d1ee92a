"""Crash tests: real worker processes, SIGKILLed at random points, must lose nothing (F1 of
RELIABILITY.md: 30 kills of 300 x 3 under ``make chaos``, 12 in ``make test``).

Each run prints its seed; ``DURABLE_CHAOS_SEED=<seed>`` replays the same kill schedule.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import anyio
import pytest

import durable
from tests.chaos import report
from tests.chaos.checker import check
from tests.chaos.harness import Workers, check_history, ledger_counts, max_recovery, tracebacks
from tests.chaos.worker_app import app, open_ledger, three_steps

INSTANCES = 300
KILLS = report.size(30, 12)
CONCURRENCY = 8


@pytest.mark.timeout(400)
async def test_sigkill_chaos_loses_nothing(store_url: str, tmp_path: Path) -> None:
    seed = int(os.environ.get("DURABLE_CHAOS_SEED", random.randrange(1 << 30)))
    print(f"DURABLE_CHAOS_SEED={seed}")
    rng = random.Random(seed)
    ledger = tmp_path / "ledger.db"
    open_ledger(str(ledger)).close()
    workers = Workers(store_url, ledger, tmp_path)
    try:
        async with durable.Client(store_url, app=app) as client:
            workers.start()
            workers.start()
            handles = []
            per_round = INSTANCES // KILLS
            kills: list[float] = []
            for n in range(KILLS):  # keep work in flight while the kills land
                handles += [
                    await client.start(three_steps, i, instance_id=f"chaos-{i}")
                    for i in range(
                        len(handles), INSTANCES if n == KILLS - 1 else len(handles) + per_round
                    )
                ]
                await anyio.sleep(rng.uniform(0.2, 1.5))
                workers.kill(rng.choice(workers.live()))
                kills.append(time.time())
                await anyio.sleep(rng.uniform(0.0, 0.5))
                workers.start()
            with anyio.fail_after(120):
                results = [await handle.result() for handle in handles]
            assert results == [i + 3 for i in range(len(handles))]
            for handle in handles:
                check_history(await handle.history())
    finally:
        workers.stop_all()
    executions = ledger_counts(ledger)
    assert set(executions) == {(f"chaos-{i}", s) for i in range(INSTANCES) for s in range(3)}
    assert not tracebacks(tmp_path)
    duplicates = sum(executions.values()) - len(executions)
    print(f"ledger: {sum(executions.values())} executions, {duplicates} duplicates")
    checked = await check(app, store_url, {f"chaos-{i}": i + 3 for i in range(INSTANCES)}, ledger)
    report.record(
        test="F1 SIGKILL",
        store=store_url.split(":")[0],
        kills=KILLS,
        completed=checked.completed,
        duplicates=checked.duplicates,
        lost=checked.lost,
        reexecutions=checked.reexecutions,
        recovery=max_recovery(ledger, kills),
        violations=len(checked.violations),
    )
    assert not checked.violations, checked.violations
    assert duplicates <= KILLS * CONCURRENCY
