"""Flow control and schedules across real worker processes (DESIGN 4, 4a; issue 19).

Limits are enforced by the store's claim, so they must hold however many processes claim: four
worker processes share a concurrency-3 queue (never more than 3 attempts at once, from the
attempts' own start/end records), a 20/s queue (within 10% over the measured window), and a
concurrency-2 queue where tenant B's 10 attempts, enqueued after tenant A's 1,000, all start
before A's 50th. A schedule ``every=1s`` on 3 workers starts one instance per slot, and after
the workers were down 3 s, ``catch_up="one"`` starts exactly one of the missed slots.

The default suite runs short windows; ``DURABLE_CHAOS=1`` (``make chaos``) the full ones.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

import durable
from tests.chaos import report
from tests.chaos.harness import Workers, tracebacks, worker_command
from tests.flow.flow_app import app, fan

FLOW_WORKER = worker_command("tests.flow.flow_app:app", "--poll-interval", "0.2")
#: seconds over which the rate is measured (the issue's 5 s under DURABLE_CHAOS=1)
RATE_WINDOW = report.size(5, 2)
#: seconds the schedule runs before its workers stop
SCHEDULE_RUN = report.size(5, 3)


def read_log(path: Path) -> list[tuple[float, float, str]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        start, end, key, _pid = line.split()
        rows.append((float(start), float(end), key))
    return rows


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals that overlap at one moment."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in edges:  # at a tie an end (-1) sorts first: touching is not overlapping
        running += step
        peak = max(peak, running)
    return peak


async def wait_for(probe: object, timeout: float = 60.0) -> None:
    with anyio.fail_after(timeout):
        while not probe():  # type: ignore[operator]
            await anyio.sleep(0.05)


@pytest.mark.timeout(300)
async def test_limited_queues_hold_across_four_worker_processes(
    store_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "attempts.log"
    workers = Workers(store_url, tmp_path / "ledger.db", tmp_path, FLOW_WORKER,
                      env={"DURABLE_FLOW_LOG": str(log)})  # fmt: skip
    try:
        async with durable.Client(store_url, app=app) as client:
            for _ in range(4):
                workers.start()
            # concurrency 3: never more than 3 attempts at once
            limited = await client.start(fan, "limited", 24, 0.1, "limited")
            assert await limited.result(timeout=120) == 24
            spans = [(s, e) for s, e, key in read_log(log) if key == "limited"]
            assert len(spans) == 24
            assert most_at_once(spans) == 3  # reached, never passed

            # fairness: B's 10, enqueued after A's 1,000, all start before A's 50th
            tenant_a = await client.start(fan, "fair", 1000, 0.01, "A", fairness_key="tenant-a")
            await wait_for(lambda: any(key == "A" for _, _, key in read_log(log)))
            tenant_b = await client.start(fan, "fair", 10, 0.01, "B", fairness_key="tenant-b")
            assert await tenant_b.result(timeout=120) == 10
            starts = sorted((s, key) for s, _, key in read_log(log) if key in "AB")
            order = [key for _, key in starts]
            assert order.count("B") == 10
            last_b = max(i for i, key in enumerate(order) if key == "B")
            a_before = order[:last_b].count("A")
            print(f"fairness: A started {a_before} attempts before B's last")
            assert a_before < 49
            await tenant_a.terminate()

            # rate 20/s: the starts in the window hold within 10%
            rated = await client.start(fan, "rated", 20 * (RATE_WINDOW + 2), 0.0, "rated")
            assert await rated.result(timeout=120) == 20 * (RATE_WINDOW + 2)
            rate_starts = sorted(s for s, _, key in read_log(log) if key == "rated")
            first = rate_starts[0]
            in_window = sum(1 for s in rate_starts if s < first + RATE_WINDOW)
            print(f"rate: {in_window} starts in {RATE_WINDOW} s (target {20 * RATE_WINDOW})")
            assert abs(in_window - 20 * RATE_WINDOW) <= 0.1 * 20 * RATE_WINDOW
    finally:
        workers.stop_all()
    assert not tracebacks(tmp_path)


@pytest.mark.timeout(300)
async def test_a_schedule_starts_each_slot_once_and_catches_up_one(
    store_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "attempts.log"
    workers = Workers(store_url, tmp_path / "ledger.db", tmp_path, FLOW_WORKER,
                      env={"DURABLE_FLOW_LOG": str(log), "DURABLE_CATCH_UP": "one"})  # fmt: skip
    try:
        async with durable.Client(store_url, app=app) as client:
            for _ in range(3):
                workers.start()
            await wait_for(lambda: read_log(log), timeout=60)  # the first slot ran
            began = time.time()
            await anyio.sleep(SCHEDULE_RUN)
            workers.stop_all()
            stopped = time.time()
            ran = await client.list(name="tick", limit=1000)
            slots = [slot_of(status.instance_id) for status in ran]
            in_run = [s for s in slots if began <= s < began + SCHEDULE_RUN]
            print(f"schedule: {len(in_run)} instances in {SCHEDULE_RUN} s")
            assert abs(len(in_run) - SCHEDULE_RUN) <= 1
            assert len(set(slots)) == len(slots)
            executions = [key for _, _, key in read_log(log)]
            assert len(executions) == len(set(executions))  # one instance per slot ran once
            last = max(slots)

            await anyio.sleep(max(0.0, stopped + 3.0 - time.time()))  # 3 s down
            workers.start()
            await wait_for(lambda: len(read_log(log)) >= len(executions) + 2, timeout=60)
            after = await client.list(name="tick", limit=1000)
            new = sorted(
                (slot_of(s.instance_id), s.created_at.timestamp())
                for s in after
                if slot_of(s.instance_id) > last
            )
            back = min(created for _, created in new)  # the restarted worker's first look
            late = [slot for slot, created in new if created - slot > 0.5 and created < back + 0.3]
            missed = [t for t in range(int(last) + 1, int(back)) if t not in {s for s, _ in new}]
            print(f"catch-up: {len(late)} late, {len(missed)} skipped, new {new}")
            assert len(late) == 1
            assert missed  # the others were skipped, not caught up
    finally:
        workers.stop_all()
    assert not tracebacks(tmp_path)


def slot_of(instance_id: str) -> float:
    """The slot time in a schedule instance's id (``tick@2026-01-01T00:00:00Z``)."""
    moment = instance_id.split("@", 1)[1]
    return datetime.strptime(moment, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
