"""The memory store: claims on declared queues, schedules' state (see ``stores.flow``; the
rules are SQLite's, ``stores.sqlite.flow``)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import anyio

from ..._flow import QueueLimits
from ..base import ActivityWorkItem, ClaimSpec
from ..flow import NO_KEY, Schedules, ScheduleState
from .tables import ActivityRow, Tables, Tx, to_datetime


def claim_queued(
    db: Tables, tx: Tx, spec: ClaimSpec, queues: Sequence[QueueLimits]
) -> ActivityWorkItem | None:
    for limits in queues:
        db.queue_limits[limits.name] = limits  # for the virtual clock (``rate_blocked``)
        if not _allowed(db, tx, limits):
            continue
        turns = db.queue_turns.setdefault(limits.name, {})
        candidates = [
            row
            for row in db.activities.values()
            if row.queue == limits.name and row.visible_at <= tx.now and row.name in spec.activities
        ]
        if not candidates:
            continue

        row = min(candidates, key=functools.partial(_order, db, turns))
        row.lease_owner, row.visible_at = spec.worker_id, tx.now + spec.lease_seconds
        row.attempt += 1
        row.started = True
        turns[_inherited(db, row)[1]] = max(turns.values(), default=0) + 1
        if limits.rate_count is not None:
            db.queue_starts.setdefault(limits.name, []).append(tx.now)
        return row.item(spec.worker_id)
    return None


def _order(db: Tables, turns: dict[str, int], row: ActivityRow) -> tuple[int, int, float, int]:
    """Lowest priority, then the key served longest ago, then the longest waiting."""
    priority, key = _inherited(db, row)
    return (priority, turns.get(key, 0), row.visible_at, row.id)


def _inherited(db: Tables, row: ActivityRow) -> tuple[int, str]:
    """An attempt's priority and fairness key: its own, else its instance's."""
    instance = db.instances.get(row.instance_id)
    priority, key = row.priority, row.fairness_key
    if instance is not None:
        priority = priority if priority is not None else instance.priority
        key = key if key is not None else instance.fairness_key
    return priority or 0, key if key is not None else NO_KEY


def _allowed(db: Tables, tx: Tx, limits: QueueLimits) -> bool:
    """Whether the queue's limits allow one more start now (an expired lease is not running)."""
    if limits.concurrency is not None:
        running = sum(
            1
            for row in db.activities.values()
            if row.queue == limits.name and row.lease_owner is not None and row.visible_at > tx.now
        )
        if running >= limits.concurrency:
            return False
    if limits.rate_count is not None and limits.rate_period is not None:
        since = tx.now - limits.rate_period
        starts = [t for t in db.queue_starts.get(limits.name, []) if t > since]
        db.queue_starts[limits.name] = starts
        if len(starts) >= limits.rate_count:
            return False
    return True


def rate_blocked(db: Tables, now: float) -> dict[str, float]:
    """The queues whose rate window is full, each with when it frees: their waiting attempts
    are not claimable (the store is idle for them), and a virtual clock jumps to that time."""
    blocked = {}
    for name, limits in db.queue_limits.items():
        if limits.rate_count is None or limits.rate_period is None:
            continue
        recent = sorted(t for t in db.queue_starts.get(name, []) if t > now - limits.rate_period)
        if len(recent) >= limits.rate_count:
            blocked[name] = recent[-limits.rate_count] + limits.rate_period
    return blocked


class FlowTables:
    """The ``FlowControl`` calls of ``MemoryStore`` (which sets ``_db`` and ``_write``)."""

    _db: Tables
    _clock: Callable[[], float]

    async def _ready(self) -> None:
        await anyio.lowlevel.checkpoint()

    async def claim_queued_activity(
        self, spec: ClaimSpec, queues: Sequence[QueueLimits]
    ) -> ActivityWorkItem | None:
        """See ``FlowControl.claim_queued_activity``."""
        await self._ready()
        return claim_queued(self._db, Tx(self._clock()), spec, queues)

    async def put_schedule(self, schedule_id: str, definition: str) -> None:
        """See ``FlowControl.put_schedule``."""
        await self._ready()
        found = self._db.schedules.get(schedule_id)
        if found is None:
            self._db.schedules[schedule_id] = [definition, False, math.floor(self._clock())]
        else:
            found[0] = definition

    async def get_schedules(self) -> Schedules:
        """See ``FlowControl.get_schedules``."""
        await self._ready()
        states = [
            ScheduleState(key, value[0], value[1], value[2])
            for key, value in sorted(self._db.schedules.items())
        ]
        return Schedules(to_datetime(self._clock()), states)

    async def advance_schedule(self, schedule_id: str, expected: int, to: int) -> bool:
        """See ``FlowControl.advance_schedule``."""
        await self._ready()
        found = self._db.schedules.get(schedule_id)
        if found is None or found[2] != expected:
            return False
        found[2] = to
        return True

    async def pause_schedule(self, schedule_id: str, paused: bool) -> bool:
        """See ``FlowControl.pause_schedule``."""
        await self._ready()
        found = self._db.schedules.get(schedule_id)
        if found is None:
            return False
        found[1] = paused
        if not paused:  # slots passed while paused are not caught up
            found[2] = max(found[2], math.floor(self._clock()))
        return True
