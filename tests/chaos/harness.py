"""The crash-test harness: worker processes started and killed by recorded pid, the ledger,
and the history checks of RELIABILITY.md section 4 (I1, I2, I3)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import anyio

import durable

from .worker_app import open_ledger

ROOT = Path(__file__).resolve().parents[2]
#: the worker command of RELIABILITY.md section 4, with its test profile (2 s leases)
WORKER = [
    sys.executable, "-m", "durable", "worker", "tests.chaos.worker_app:app",
    "--lease", "2", "--poll-interval", "0.1", "--concurrency", "8", "--log-level", "warning",
]  # fmt: skip


def worker_command(app: str, *options: str) -> list[str]:
    """``WORKER`` for another app module, with ``options`` overriding its test profile."""
    return [*WORKER[:4], app, *WORKER[5:], *options]


class Workers:
    """Worker processes started and killed by recorded pid only (never pkill)."""

    def __init__(
        self,
        store_url: str,
        ledger: Path,
        logs: Path,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.store_url = store_url
        self.command = command or WORKER
        self.extra_env = env or {}
        self.env = {**os.environ, "DURABLE_LEDGER": str(ledger), **self.extra_env}
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        with (self.logs / f"worker-{len(self.procs)}.log").open("wb") as log:
            proc = subprocess.Popen(
                [*self.command, "--store", self.store_url],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=ROOT,  # the CLI imports MODULE:APP from the working directory
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


def ledger_counts(ledger: Path) -> Counter[tuple[str, int]]:
    """How many times each (instance, step) really ran, by the ledger."""
    connection = open_ledger(str(ledger))
    rows = connection.execute("SELECT instance_id, step FROM ledger").fetchall()
    connection.close()
    return Counter((instance_id, step) for instance_id, step in rows)


def ledger_pids(ledger: Path) -> set[int]:
    """The worker processes that ran at least one step."""
    connection = open_ledger(str(ledger))
    pids = {pid for (pid,) in connection.execute("SELECT DISTINCT pid FROM ledger")}
    connection.close()
    return pids


def tracebacks(logs: Path) -> list[str]:
    """Worker logs that show a traceback."""
    return [p.name for p in logs.glob("worker-*.log") if "Traceback" in p.read_text()]


def max_recovery(ledger: Path, faults: list[float]) -> float:
    """The longest time from a fault to the next step any worker finished (by the ledger)."""
    connection = open_ledger(str(ledger))
    ends = sorted(t for (t,) in connection.execute("SELECT t_end FROM ledger"))
    connection.close()
    gaps = [next((t for t in ends if t > fault), fault) - fault for fault in faults]
    return round(max(gaps, default=0.0), 2)


def new_ledger(tmp_path: Path) -> Path:
    """An empty ledger file the workers of a chaos run record their executions in."""
    ledger = tmp_path / "ledger.db"
    open_ledger(str(ledger)).close()
    return ledger


def store_kind(url: str) -> str:
    """``sqlite`` or ``postgresql``: the report's store column."""
    return url.split(":")[0]


async def all_done(client: durable.Client, ids: list[str], wait: float) -> None:
    """Wait until every instance of ``ids`` has ended (a failure is the checker's to report)."""
    with anyio.fail_after(wait):
        for instance_id in ids:
            with contextlib.suppress(durable.OrchestrationFailed):
                await client.get(instance_id).result(timeout=wait)
