"""The checker of RELIABILITY.md section 4: invariants I1-I5 after a chaos run, read through the
public API, raw SQL and the ledger, and the figures the ``make chaos`` table shows.

* I1: every started instance is terminal with the expected result.
* I2: history ``seq`` contiguous from 0, exactly one terminal event (last), and each
  ``ActivityScheduled`` completed or failed at most once.
* I3: each recorded activity completion has at least one ledger execution; the extra ones are
  the re-executions (at-least-once), reported.
* I4: no inbox row, activity row or lease is left for a terminal instance.
* I5: a fresh client reads the same result twice, and every history replays against the code.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

import durable
from durable.testing import replay

from .worker_app import open_ledger

TERMINAL = {"ExecutionCompleted", "ExecutionFailed", "ExecutionTerminated", "ExecutionCanceled"}
COMPLETIONS = {"ActivityCompleted", "ActivityFailed"}


@dataclass
class Checked:
    """What the checker found: the violations (must be none) and the figures."""

    violations: list[str] = field(default_factory=list)
    completed: int = 0
    #: recorded completions that appear twice in a history (must be 0)
    duplicates: int = 0
    #: instances not terminal with their expected result (must be 0)
    lost: int = 0
    #: ledger executions beyond one per recorded step (at-least-once)
    reexecutions: int = 0

    def violation(self, text: str) -> None:
        if len(self.violations) < 50:
            self.violations.append(text)


async def raw_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the store's database (SQLite file or PostgreSQL schema)."""
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///").split("?")[0])
        try:
            return [tuple(row) for row in connection.execute(sql).fetchall()]
        finally:
            connection.close()
    dsn, _, schema = url.partition("?schema=")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"SET search_path TO {schema}")
        return [tuple(row) for row in await conn.fetch(sql)]
    finally:
        await conn.close()


def _history(checked: Checked, instance_id: str, events: list[durable.HistoryEvent]) -> None:
    """I2 for one instance."""
    if [e.seq for e in events] != list(range(len(events))):
        checked.violation(f"I2 {instance_id}: seq not contiguous from 0")
    ends = [e for e in events if e.kind in TERMINAL]
    if len(ends) != 1 or events[-1].kind not in TERMINAL:
        checked.violation(f"I2 {instance_id}: {len(ends)} terminal events, last {events[-1].kind}")
    done = Counter(getattr(e, "task_id", None) for e in events if e.kind in COMPLETIONS)
    twice = [task for task, n in done.items() if n > 1]
    if twice:
        checked.duplicates += len(twice)
        checked.violation(f"I2 {instance_id}: activities {twice} recorded more than once")


async def check(
    app: durable.App,
    url: str,
    expected: Mapping[str, Any],
    ledger: Path | None = None,
) -> Checked:
    """Check I1-I5 for the instances ``expected`` (id -> result) of the store at ``url``."""
    checked = Checked()
    steps = 0
    async with durable.Client(url, app=app) as client:
        for instance_id, want in expected.items():
            handle = client.get(instance_id)
            status = await handle.status()
            if status.status is not durable.Status.COMPLETED or status.output != want:
                checked.lost += 1
                got = f"{status.status} {status.output!r}"
                checked.violation(f"I1 {instance_id}: {got}, expected {want!r}")
                continue
            checked.completed += 1
            events = await handle.history()
            _history(checked, instance_id, events)
            steps += sum(e.kind == "ActivityCompleted" for e in events)
            first, second = await handle.result(), await handle.result()  # I5
            if first != second or first != want:
                checked.violation(f"I5 {instance_id}: results {first!r}, {second!r}")
    report = await replay(app, url, ids=list(expected))
    for failure in report.failures:
        checked.violation(f"I5 {failure.instance_id}: does not replay: {failure.error}")
    await _leftovers(checked, url)
    if ledger is not None:
        _ledger(checked, ledger, steps)
    return checked


async def _leftovers(checked: Checked, url: str) -> None:
    """I4: nothing claimable or leased remains for a terminal instance."""
    terminal = "('COMPLETED', 'FAILED', 'TERMINATED', 'CANCELED')"
    queries = {
        "inbox rows": f"SELECT m.instance_id FROM inbox m JOIN instances i USING (instance_id) "
        f"WHERE i.status IN {terminal}",
        "activity rows": f"SELECT a.instance_id FROM activities a JOIN instances i "
        f"USING (instance_id) WHERE i.status IN {terminal}",
        "leases": f"SELECT instance_id FROM instances WHERE status IN {terminal} "
        "AND lease_owner IS NOT NULL",
    }
    for what, sql in queries.items():
        for (instance_id,) in await raw_rows(url, sql):
            checked.violation(f"I4 {instance_id}: {what} left after it finished")


def _ledger(checked: Checked, ledger: Path, steps: int) -> None:
    """I3: every recorded step ran at least once; count the re-executions."""
    connection = open_ledger(str(ledger))
    runs = Counter(connection.execute("SELECT instance_id, step FROM ledger").fetchall())
    connection.close()
    checked.reexecutions = sum(runs.values()) - len(runs)
    if len(runs) < steps:
        checked.violation(f"I3: {steps} recorded completions but {len(runs)} ledger steps")
