"""RELIABILITY.md C1-C3 (concurrency and load) and T1 (clock skew), with real processes.

Short versions run in ``make test``; ``make chaos`` (``DURABLE_CHAOS=1``) runs the full sizes:
C1 8 client processes x 50 tasks x 2 start+await (800 instances); C2 4 PostgreSQL workers
on 1,000 x 3 activities of 50 ms; C3 10 SIGTERMs mid-load; T1 200 activities with workers
whose clocks are 30 s ahead and 30 s behind.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import anyio
import pytest

import durable
from tests.chaos import report
from tests.chaos.checker import check, raw_rows
from tests.chaos.harness import (
    ROOT,
    Workers,
    all_done,
    max_recovery,
    new_ledger,
    store_kind,
    tracebacks,
)
from tests.chaos.worker_app import app, open_ledger, three_slow_steps, three_steps, timed
from tests.pg_server import PostgresServer

WAIT = 300


def _overlaps(ledger: Path) -> list[str]:
    """C2: executions of one step whose intervals overlap on different pids (two claims)."""
    connection = open_ledger(str(ledger))
    rows = connection.execute("SELECT instance_id, step, pid, t_start, t_end FROM ledger")
    runs: dict[tuple[str, int], list[tuple[int, float, float]]] = defaultdict(list)
    for instance_id, step, pid, t_start, t_end in rows:
        runs[(instance_id, step)].append((pid, t_start, t_end))
    connection.close()
    found = []
    for key, spans in runs.items():
        for n, (pid_a, start_a, end_a) in enumerate(spans):
            for pid_b, start_b, end_b in spans[n + 1 :]:
                if pid_a != pid_b and start_a < end_b and start_b < end_a:
                    found.append(f"{key}: pids {pid_a} and {pid_b}")
    return found


# -- C1: many clients -----------------------------------------------------------------------------


async def _pg_stat(url: str, sql: str) -> int:
    rows = await raw_rows(url, sql)
    return int(rows[0][0] or 0)


@pytest.mark.timeout(1200)
async def test_c1_many_client_processes(store_url: str, tmp_path: Path) -> None:
    # RELIABILITY's 8 x 50 x 10: the 400 concurrent callers are kept, the rounds cut to 2 so
    # that make chaos stays under 20 minutes (4,000 took about 4 minutes per store)
    processes, tasks, rounds = report.size(8, 2), report.size(50, 10), 2
    ledger = new_ledger(tmp_path)
    workers = Workers(store_url, ledger, tmp_path)
    postgres = store_url.startswith("postgres")
    deadlocks_sql = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    connections_sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    )
    async with durable.Client(store_url, app=app):  # creates the schema before the crowd
        pass
    deadlocks = await _pg_stat(store_url, deadlocks_sql) if postgres else 0
    workers.start()
    workers.start()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    clients = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.chaos.client_app",
                store_url,
                f"c{p}",
                str(tasks),
                str(rounds),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        for p in range(processes)
    ]
    peak_connections = 0
    try:
        with anyio.fail_after(WAIT * 3):
            while any(c.poll() is None for c in clients):
                if postgres:
                    now = await _pg_stat(store_url, connections_sql)
                    peak_connections = max(peak_connections, now)
                await anyio.sleep(0.5)
        outputs = [c.communicate() for c in clients]
    finally:
        for c in clients:
            if c.poll() is None:
                os.kill(c.pid, signal.SIGKILL)
        workers.stop_all()
    latencies: list[float] = []
    errors: list[str] = []
    for (out, err), c in zip(outputs, clients, strict=True):
        assert c.returncode == 0, err.decode()[-2000:]
        found = json.loads(out.decode().strip().splitlines()[-1])
        latencies += found["latencies"]
        errors += found["errors"]
    assert errors == [], errors[:10]
    expected = {f"c{p}-{n}": n + 3 for p in range(processes) for n in range(tasks * rounds)}
    checked = await check(app, store_url, expected, ledger)
    p50 = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98]
    report.record(
        test=f"C1 {processes}x{tasks}x{rounds} clients (p50 {p50:.2f} s, p99 {p99:.2f} s)",
        store=store_kind(store_url),
        kills=0,
        completed=checked.completed,
        duplicates=checked.duplicates,
        lost=checked.lost,
        reexecutions=checked.reexecutions,
        violations=len(checked.violations),
    )
    assert not checked.violations, checked.violations
    assert checked.reexecutions == 0  # no faults: every step ran once
    assert not tracebacks(tmp_path)
    if postgres:
        assert await _pg_stat(store_url, deadlocks_sql) == deadlocks
        # each process: its pool (10) and one listening connection; the checker's own is gone
        assert peak_connections <= (processes + 2) * 11, peak_connections


# -- C2: claim exclusivity, 4 PostgreSQL workers --------------------------------------------------


@pytest.mark.timeout(1200)
async def test_c2_four_postgres_workers_never_run_one_step_at_once(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    count = report.size(1000, 60)
    url = f"{pg_server.url}?schema=c2_{os.getpid()}_{tmp_path.name[-8:].lower()}"
    ledger = new_ledger(tmp_path)
    workers = Workers(url, ledger, tmp_path)
    expected = {f"c2-{n}": n + 3 for n in range(count)}
    async with durable.Client(url, app=app) as client:
        for _ in range(4):
            workers.start()
        try:
            for n in range(count):
                await client.start(three_slow_steps, n, instance_id=f"c2-{n}")
            await all_done(client, list(expected), WAIT)
        finally:
            workers.stop_all()
    checked = await check(app, url, expected, ledger)
    overlaps = _overlaps(ledger)
    pids = _pids(ledger)
    report.record(
        test=f"C2 4 workers {count}x3 x 50 ms",
        store="postgresql",
        kills=0,
        completed=checked.completed,
        duplicates=checked.duplicates + len(overlaps),
        lost=checked.lost,
        reexecutions=checked.reexecutions,
        violations=len(checked.violations) + len(overlaps),
    )
    assert not checked.violations, checked.violations
    assert overlaps == [], overlaps[:10]
    assert checked.reexecutions == 0
    assert len(pids) == 4  # all four took work
    assert not tracebacks(tmp_path)


# -- C3: graceful SIGTERM mid-load ----------------------------------------------------------------


@pytest.mark.timeout(900)
async def test_c3_sigterm_mid_load_exits_0_and_releases_the_work(
    store_url: str, tmp_path: Path
) -> None:
    """Leases of 60 s: work a stopped worker neither finished nor released would wait a
    minute; the recovery measured must stay far under it."""
    stops = report.size(10, 2)
    ledger = new_ledger(tmp_path)
    options = ["--lease", "60", "--shutdown-grace", "0.5"]
    command = [*Workers(store_url, ledger, tmp_path).command, *options]
    workers = Workers(store_url, ledger, tmp_path, command=command)
    expected: dict[str, int] = {}
    signalled: list[float] = []
    async with durable.Client(store_url, app=app) as client:
        workers.start()
        workers.start()
        try:
            for round_ in range(stops):
                began = time.time()
                for n in range(round_ * 30, round_ * 30 + 30):
                    await client.start(three_slow_steps, n, instance_id=f"c3-{n}")
                    expected[f"c3-{n}"] = n + 3
                with anyio.fail_after(WAIT):  # mid-load: a worker running this round's steps
                    while not (busy := _running_since(ledger, began, workers.live())):
                        await anyio.sleep(0.02)
                victim = busy[-1]
                signalled.append(time.time())
                os.kill(victim.pid, signal.SIGTERM)
                with anyio.fail_after(10):  # the grace period (RELIABILITY C3: 10 s)
                    while victim.poll() is None:
                        await anyio.sleep(0.05)
                assert victim.returncode == 0, victim.returncode
                workers.start()
            await all_done(client, list(expected), WAIT)
            # work left leased by a stopped worker would wait out its 60 s lease
            drained = time.time() - signalled[-1]
        finally:
            workers.stop_all()
    checked = await check(app, store_url, expected, ledger)
    recovery = max(max_recovery(ledger, signalled), round(drained, 2))
    report.record(
        test="C3 SIGTERM mid-load (60 s leases)",
        store=store_kind(store_url),
        kills=stops,
        completed=checked.completed,
        duplicates=checked.duplicates,
        lost=checked.lost,
        reexecutions=checked.reexecutions,
        recovery=recovery,
        violations=len(checked.violations),
    )
    assert not checked.violations, checked.violations
    assert recovery < 30, f"work waited {recovery} s after a SIGTERM: not released"
    assert not tracebacks(tmp_path)


def _running_since(
    ledger: Path, since: float, live: list[subprocess.Popen[bytes]]
) -> list[subprocess.Popen[bytes]]:
    """The live workers that started a step at or after ``since``."""
    connection = open_ledger(str(ledger))
    try:
        rows = connection.execute("SELECT DISTINCT pid FROM ledger WHERE t_start >= ?", (since,))
        pids = {pid for (pid,) in rows}
    finally:
        connection.close()
    return [p for p in live if p.pid in pids]


def _pids(ledger: Path) -> set[int]:
    connection = open_ledger(str(ledger))
    try:
        return {pid for (pid,) in connection.execute("SELECT DISTINCT pid FROM ledger")}
    finally:
        connection.close()


# -- T1: clock skew -------------------------------------------------------------------------------


@pytest.mark.timeout(600)
async def test_t1_skewed_worker_clocks_never_double_claim(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    """PostgreSQL only: its ``now()`` is the clock of leases and due times, so workers whose
    hosts are 30 s apart agree: both share the work, none claims the other's, timers fire on
    time and everything is stamped by one clock. (A SQLite store's clock is its host's, which
    every process on the file shares; skewed there by ``DURABLE_CLOCK_OFFSET``, the worker 30 s
    behind finds nothing due for 30 s and takes no work: the check of both pids fails, which
    shows the test can.)"""
    count = report.size(67, 10)  # x 3 activities: RELIABILITY's 200
    url = f"{pg_server.url}?schema=t1_{os.getpid()}_{tmp_path.name[-8:].lower()}"
    ledger = new_ledger(tmp_path)
    expected: dict[str, object] = {f"t1-{n}": n + 3 for n in range(count)}
    async with durable.Client(url, app=app) as client:
        ahead = Workers(url, ledger, tmp_path / "ahead", env={"DURABLE_CLOCK_OFFSET": "30"})
        behind = Workers(url, ledger, tmp_path / "behind", env={"DURABLE_CLOCK_OFFSET": "-30"})
        for group in (ahead, behind):
            group.logs.mkdir()
            group.start()
        try:
            for n in range(count):
                await client.start(three_steps, n, instance_id=f"t1-{n}")
            sleeps = [await client.start(timed, 2.0, instance_id=f"t1-sleep-{n}") for n in range(5)]
            await all_done(client, [*expected, *(h.instance_id for h in sleeps)], WAIT)
            for handle in sleeps:
                events = await handle.history()
                created = next(e for e in events if e.kind == "TimerCreated")
                # TimerFired carries the due time; the episode it woke is stamped when it ran
                woke = next(e for e in events if e.kind == "ExecutionCompleted")
                waited = (woke.timestamp - created.timestamp).total_seconds()
                # on the store's clock: never early; late by at most the poll (0.1 s) and a
                # busy worker's commit
                assert 2.0 <= waited <= 3.0, waited
                recorded = next(e for e in events if e.kind == "NowRecorded")
                assert await handle.result() == recorded.value.isoformat()  # type: ignore[attr-defined]
                assert (
                    abs(
                        (recorded.value - created.timestamp).total_seconds()  # type: ignore[attr-defined]
                    )
                    < 1.0
                )  # stamped by the store's clock, not a host 30 s off
                expected[handle.instance_id] = recorded.value.isoformat()  # type: ignore[attr-defined]
        finally:
            ahead.stop_all()
            behind.stop_all()
    checked = await check(app, url, expected, ledger)
    overlaps = _overlaps(ledger)
    report.record(
        test="T1 clock skew +-30 s",
        store="postgresql",
        kills=0,
        completed=checked.completed,
        duplicates=checked.duplicates + len(overlaps),
        lost=checked.lost,
        reexecutions=checked.reexecutions,
        violations=len(checked.violations),
    )
    assert not checked.violations, checked.violations  # I5: ctx.now() replays the same
    assert checked.reexecutions == 0 and overlaps == [], (checked.reexecutions, overlaps)
    assert len(_pids(ledger)) == 2, "a skewed worker took no work"
    assert not tracebacks(tmp_path / "ahead") and not tracebacks(tmp_path / "behind")
