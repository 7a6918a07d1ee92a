"""SQLite: claims on declared queues, schedules' state, tags and delayed starts (see
``stores.flow`` for what each call guarantees).

A claim on a declared queue is a write: SQLite serializes writers across processes, so the
counts a claim reads (attempts leased now, starts in the rate window) cannot change under it.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..._flow import QueueLimits
from ..base import ActivityWorkItem, ClaimSpec, NewInstance
from ..flow import NO_KEY, Schedules, ScheduleState
from .rows import Tx, activity_item, dump_json, names_json, to_datetime, to_ts

if TYPE_CHECKING:
    from .db import Database

# -- instances: options, tags, delayed start ------------------------------------------------------


def keep_options(tx: Tx, new: NewInstance) -> None:
    """Write a new instance's priority, fairness key and tags (row and index)."""
    tx.execute(
        "UPDATE instances SET priority = ?, fairness_key = ? WHERE instance_id = ?",
        (new.priority, new.fairness_key, new.instance_id),
    )
    if new.tags:
        keep_tags(tx, new.instance_id, new.tags, tx.now)


def keep_tags(tx: Tx, instance_id: str, tags: Mapping[str, str], created_at: float) -> None:
    """Index an instance's tags (and keep them on its row, for reads)."""
    tx.execute(
        "UPDATE instances SET tags = ? WHERE instance_id = ?", (dump_json(dict(tags)), instance_id)
    )
    tx.conn.executemany(
        "INSERT OR IGNORE INTO tags (key, value, created_at, instance_id) VALUES (?, ?, ?, ?)",
        [(key, value, created_at, instance_id) for key, value in tags.items()],
    )


def start_visible_at(tx: Tx, new: NewInstance) -> float:
    """When the instance's ``ExecutionStarted`` becomes visible (its delayed start, if any)."""
    at = tx.now + new.start_delay
    if new.start_at is not None:
        at = max(at, to_ts(new.start_at))
    return at


# -- claims on declared queues --------------------------------------------------------------------

_RUNNING = """
SELECT count(*) FROM activities WHERE queue = ? AND visible_at > ? AND lease_owner IS NOT NULL
"""
# lowest priority first, then the fairness key served longest ago (never served: turn 0), then
# the longest waiting; an attempt's own priority and key, else its instance's
_NEXT = f"""
SELECT a.id, coalesce(a.fairness_key, i.fairness_key, '{NO_KEY}') AS fkey
FROM activities AS a JOIN instances AS i ON i.instance_id = a.instance_id
LEFT JOIN queue_turns AS t ON t.queue = a.queue
    AND t.fairness_key = coalesce(a.fairness_key, i.fairness_key, '{NO_KEY}')
WHERE a.queue = :queue AND a.visible_at <= :now
  AND a.name IN (SELECT value FROM json_each(:names))
ORDER BY coalesce(a.priority, i.priority, 0), coalesce(t.turn, 0), a.visible_at, a.id
LIMIT 1
"""  # noqa: S608 (constants only)
_LEASE = """
UPDATE activities SET lease_owner = ?, visible_at = ?, attempt = attempt + 1, started = 1
WHERE id = ? RETURNING *
"""
_TURN = """
INSERT INTO queue_turns (queue, fairness_key, turn)
VALUES (:queue, :key, (SELECT coalesce(max(turn), 0) + 1 FROM queue_turns WHERE queue = :queue))
ON CONFLICT (queue, fairness_key) DO UPDATE SET turn = excluded.turn
"""


def claim_queued(tx: Tx, spec: ClaimSpec, queues: Sequence[QueueLimits]) -> ActivityWorkItem | None:
    for limits in queues:
        if not _allowed(tx, limits):
            continue
        found = tx.one(
            _NEXT, {"queue": limits.name, "now": tx.now, "names": names_json(spec.activities)}
        )
        if found is None:
            continue
        row = tx.one(_LEASE, (spec.worker_id, tx.now + spec.lease_seconds, found[0]))
        assert row is not None
        tx.execute(_TURN, {"queue": limits.name, "key": found[1]})
        if limits.rate_count is not None:
            tx.execute(
                "INSERT INTO queue_starts (queue, started_at) VALUES (?, ?)", (limits.name, tx.now)
            )
        return activity_item(row, spec.worker_id)
    return None


def _allowed(tx: Tx, limits: QueueLimits) -> bool:
    """Whether the queue's limits allow one more start now."""
    if limits.concurrency is not None:
        running = tx.one(_RUNNING, (limits.name, tx.now))
        if running is not None and running[0] >= limits.concurrency:
            return False
    if limits.rate_count is not None and limits.rate_period is not None:
        since = tx.now - limits.rate_period
        tx.execute(
            "DELETE FROM queue_starts WHERE queue = ? AND started_at <= ?", (limits.name, since)
        )
        started = tx.one("SELECT count(*) FROM queue_starts WHERE queue = ?", (limits.name,))
        if started is not None and started[0] >= limits.rate_count:
            return False
    return True


# -- schedules ------------------------------------------------------------------------------------


def put_schedule(tx: Tx, schedule_id: str, definition: str) -> None:
    tx.execute(
        "INSERT INTO schedules (schedule_id, definition, last_slot) VALUES (?, ?, ?) "
        "ON CONFLICT (schedule_id) DO UPDATE SET definition = excluded.definition",
        (schedule_id, definition, math.floor(tx.now)),
    )


def get_schedules(conn: sqlite3.Connection, now: float) -> Schedules:
    rows = conn.execute("SELECT * FROM schedules ORDER BY schedule_id").fetchall()
    return Schedules(
        to_datetime(now),
        [
            ScheduleState(r["schedule_id"], r["definition"], bool(r["paused"]), r["last_slot"])
            for r in rows
        ],
    )


def advance_schedule(tx: Tx, schedule_id: str, expected: int, to: int) -> bool:
    cursor = tx.execute(
        "UPDATE schedules SET last_slot = ? WHERE schedule_id = ? AND last_slot = ?",
        (to, schedule_id, expected),
    )
    return bool(cursor.rowcount)


def pause_schedule(tx: Tx, schedule_id: str, paused: bool) -> bool:
    if paused:
        cursor = tx.execute("UPDATE schedules SET paused = 1 WHERE schedule_id = ?", (schedule_id,))
    else:  # slots passed while paused are not caught up
        cursor = tx.execute(
            "UPDATE schedules SET paused = 0, last_slot = max(last_slot, ?) WHERE schedule_id = ?",
            (math.floor(tx.now), schedule_id),
        )
    return bool(cursor.rowcount)


class FlowTables:
    """The ``FlowControl`` calls of ``SQLiteStore`` (which sets ``_db``)."""

    _db: Database

    async def claim_queued_activity(
        self, spec: ClaimSpec, queues: Sequence[QueueLimits]
    ) -> ActivityWorkItem | None:
        """See ``FlowControl.claim_queued_activity``."""
        return await self._db.write(lambda tx: claim_queued(tx, spec, queues), "claim_activity")

    async def put_schedule(self, schedule_id: str, definition: str) -> None:
        """See ``FlowControl.put_schedule``."""
        await self._db.write(lambda tx: put_schedule(tx, schedule_id, definition), "put_schedule")

    async def get_schedules(self) -> Schedules:
        """See ``FlowControl.get_schedules``."""
        return await self._db.read(get_schedules, "get_schedules")

    async def advance_schedule(self, schedule_id: str, expected: int, to: int) -> bool:
        """See ``FlowControl.advance_schedule``."""
        return await self._db.write(
            lambda tx: advance_schedule(tx, schedule_id, expected, to), "advance_schedule"
        )

    async def pause_schedule(self, schedule_id: str, paused: bool) -> bool:
        """See ``FlowControl.pause_schedule``."""
        return await self._db.write(
            lambda tx: pause_schedule(tx, schedule_id, paused), "pause_schedule"
        )
