"""Crash tests: real worker processes, SIGKILLed at random points, must lose nothing.

Each run prints its seed; ``DURABLE_CHAOS_SEED=<seed>`` replays the same kill schedule.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import anyio
import pytest

import durable
from tests.chaos.worker_app import app, open_ledger, three_steps

WORKER = Path(__file__).parent / "chaos" / "worker_app.py"
INSTANCES = 300
KILLS = 12
CONCURRENCY = 8


class Workers:
    """Worker processes started and killed by recorded pid only (never pkill)."""

    def __init__(self, store_url: str, ledger: Path, logs: Path) -> None:
        self.store_url = store_url
        self.env = {**os.environ, "DURABLE_LEDGER": str(ledger)}
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        with (self.logs / f"worker-{len(self.procs)}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, str(WORKER), self.store_url],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def live(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.live():
            self.kill(proc)


def check_history(events: list[durable.HistoryEvent]) -> None:
    """RELIABILITY I2: contiguous seq, one terminal event last, one completion per activity."""
    assert [e.seq for e in events] == list(range(len(events)))
    assert events[-1].kind == "ExecutionCompleted"
    terminal = {"ExecutionCompleted", "ExecutionFailed", "ExecutionTerminated"}
    assert sum(e.kind in terminal for e in events) == 1
    scheduled = Counter(
        getattr(e, "task_id", None) for e in events if e.kind == "ActivityScheduled"
    )
    completed = Counter(
        getattr(e, "task_id", None) for e in events if e.kind == "ActivityCompleted"
    )
    assert scheduled == completed and set(scheduled.values()) == {1}


@pytest.mark.timeout(240)
async def test_sigkill_chaos_loses_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("DURABLE_CHAOS_SEED", random.randrange(1 << 30)))
    print(f"DURABLE_CHAOS_SEED={seed}")
    rng = random.Random(seed)
    store_url = f"sqlite:///{tmp_path / 'chaos.db'}"
    ledger = tmp_path / "ledger.db"
    open_ledger(str(ledger)).close()
    workers = Workers(store_url, ledger, tmp_path)
    try:
        async with durable.Client(store_url, app=app) as client:
            workers.start()
            workers.start()
            handles = []
            per_round = INSTANCES // KILLS
            for _ in range(KILLS):  # keep work in flight while the kills land
                handles += [
                    await client.start(three_steps, i, instance_id=f"chaos-{i}")
                    for i in range(len(handles), len(handles) + per_round)
                ]
                await anyio.sleep(rng.uniform(0.2, 1.0))
                workers.kill(rng.choice(workers.live()))
                await anyio.sleep(rng.uniform(0.0, 0.3))
                workers.start()
            with anyio.fail_after(120):
                results = [await handle.result() for handle in handles]
            assert results == [i + 3 for i in range(len(handles))]
            for handle in handles:
                check_history(await handle.history())
    finally:
        workers.stop_all()
    connection = open_ledger(str(ledger))
    rows = connection.execute("SELECT instance_id, step FROM ledger").fetchall()
    connection.close()
    executions = Counter(rows)
    assert set(executions) == {(f"chaos-{i}", s) for i in range(INSTANCES) for s in range(3)}
    errors = [p.name for p in tmp_path.glob("worker-*.log") if "Traceback" in p.read_text()]
    assert not errors, f"tracebacks in {errors}"
    duplicates = sum(executions.values()) - len(executions)
    print(f"ledger: {sum(executions.values())} executions, {duplicates} duplicates")
    assert duplicates <= KILLS * CONCURRENCY
