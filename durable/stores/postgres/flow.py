"""PostgreSQL: claims on declared queues, schedules' state, tags and delayed starts (see
``stores.flow`` for the guarantees; the rules are SQLite's, ``stores.sqlite.flow``).

A claim on a declared queue holds a transaction-scoped advisory lock on the queue, so claims of
one queue run one at a time across every process and host, and each reads (with its own
statement snapshots, READ COMMITTED) the counts the previous one left. Its time is
``clock_timestamp()`` read after the lock: ``now()`` would be the time before the wait.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg

from ..._flow import QueueLimits
from .. import rows
from ..base import ActivityWorkItem, ClaimSpec, NewInstance
from ..flow import NO_KEY, Schedules, ScheduleState, has_options
from .db import Tx
from .instances import Creation, insert_instances, new_token

if TYPE_CHECKING:
    from .db import Database

# -- instances: options, tags, delayed start ------------------------------------------------------

_KEEP = """
UPDATE instances SET tags = $2, priority = $3, fairness_key = $4 WHERE instance_id = $1
"""
_TAGS = """
INSERT INTO tags (key, value, created_at, instance_id)
SELECT t.key, t.value, i.created_at, i.instance_id
FROM instances AS i, unnest($2::text[], $3::text[]) AS t(key, value)
WHERE i.instance_id = $1
ON CONFLICT DO NOTHING
"""
_DELAY = """
UPDATE inbox SET visible_at = greatest(now() + $2::float8 * interval '1 second', $3::timestamptz)
WHERE instance_id = $1 AND kind = 'ExecutionStarted'
"""


async def create_with_options(tx: Tx, new: NewInstance) -> bool:
    """Create an instance with tags, priority, fairness key or a delayed start, atomically
    (idempotent when rerun: a rerun finds its own row by the start's token)."""
    [(created, _)] = await insert_instances(tx, [Creation(new, new_token())])
    if not created:
        return False
    tags = dict(new.tags)
    await tx.conn.execute(
        _KEEP, new.instance_id, json.dumps(tags) if tags else None, new.priority, new.fairness_key
    )
    if tags:
        await keep_tags(tx.conn, new.instance_id, tags)
    if new.start_at is not None or new.start_delay:
        await tx.conn.execute(_DELAY, new.instance_id, new.start_delay, new.start_at)
    return True


async def keep_tags(conn: asyncpg.Connection, instance_id: str, tags: Mapping[str, str]) -> None:
    """Index an instance's tags (and keep them on its row, for reads)."""
    await conn.execute(
        "UPDATE instances SET tags = $2 WHERE instance_id = $1", instance_id, json.dumps(dict(tags))
    )
    await conn.execute(_TAGS, instance_id, list(tags), list(tags.values()))


# -- claims on declared queues --------------------------------------------------------------------

_RUNNING = """
SELECT count(*) FROM activities WHERE queue = $1 AND visible_at > $2 AND lease_owner IS NOT NULL
"""
_NEXT = f"""
SELECT a.id, coalesce(a.fairness_key, i.fairness_key, '{NO_KEY}') AS fkey
FROM activities AS a JOIN instances AS i ON i.instance_id = a.instance_id
LEFT JOIN queue_turns AS t ON t.queue = a.queue
    AND t.fairness_key = coalesce(a.fairness_key, i.fairness_key, '{NO_KEY}')
WHERE a.queue = $1 AND a.visible_at <= $2 AND a.name = ANY($3::text[])
ORDER BY coalesce(a.priority, i.priority, 0), coalesce(t.turn, 0), a.visible_at, a.id
LIMIT 1
FOR UPDATE OF a SKIP LOCKED
"""  # noqa: S608 (constants only)
_LEASE = """
UPDATE activities
SET lease_owner = $1, visible_at = $2::timestamptz + $3::float8 * interval '1 second',
    attempt = attempt + 1, started = true
WHERE id = $4 RETURNING *
"""
_TURN = """
INSERT INTO queue_turns (queue, fairness_key, turn)
VALUES ($1, $2, (SELECT coalesce(max(turn), 0) + 1 FROM queue_turns WHERE queue = $1))
ON CONFLICT (queue, fairness_key) DO UPDATE SET turn = excluded.turn
"""


async def claim_queued(
    tx: Tx, spec: ClaimSpec, queues: Sequence[QueueLimits]
) -> ActivityWorkItem | None:
    names = sorted(spec.activities)
    for limits in queues:
        await tx.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"queue:{limits.name}")
        now = await tx.conn.fetchval("SELECT clock_timestamp()")
        if not await _allowed(tx.conn, limits, now):
            continue
        found = await tx.conn.fetchrow(_NEXT, limits.name, now, names)
        if found is None:
            continue
        row = await tx.conn.fetchrow(_LEASE, spec.worker_id, now, spec.lease_seconds, found[0])
        await tx.conn.execute(_TURN, limits.name, found[1])
        if limits.rate_count is not None:
            await tx.conn.execute(
                "INSERT INTO queue_starts (queue, started_at) VALUES ($1, $2)", limits.name, now
            )
        return rows.activity_item(row, spec.worker_id, rows.as_is)
    return None


async def _allowed(conn: asyncpg.Connection, limits: QueueLimits, now: datetime) -> bool:
    if limits.concurrency is not None:
        running = await conn.fetchval(_RUNNING, limits.name, now)
        if running >= limits.concurrency:
            return False
    if limits.rate_count is not None and limits.rate_period is not None:
        await conn.execute(
            "DELETE FROM queue_starts WHERE queue = $1 "
            "AND started_at <= $2::timestamptz - $3::float8 * interval '1 second'",
            limits.name,
            now,
            limits.rate_period,
        )
        started = await conn.fetchval(
            "SELECT count(*) FROM queue_starts WHERE queue = $1", limits.name
        )
        if started >= limits.rate_count:
            return False
    return True


# -- schedules ------------------------------------------------------------------------------------


async def _get_schedules(conn: asyncpg.Connection) -> Schedules:
    now = await conn.fetchval("SELECT now()")
    found = await conn.fetch("SELECT * FROM schedules ORDER BY schedule_id")
    states = [
        ScheduleState(r["schedule_id"], r["definition"], r["paused"], int(r["last_slot"]))
        for r in found
    ]
    return Schedules(now.astimezone(UTC), states)


class FlowTables:
    """The ``FlowControl`` calls of ``PostgresStore`` (which sets ``_db``), and its
    ``create_instance``, which routes flow options here."""

    _db: Database

    async def _create_plain(self, new: NewInstance) -> bool:  # pragma: no cover - the store's
        raise NotImplementedError

    async def create_instance(self, new: NewInstance) -> bool:
        """See ``Store.create_instance``: a start with flow options takes a transaction of its
        own; the others are batched into one statement with the starts of the moment."""
        if has_options(new):
            return await self._db.run(lambda tx: create_with_options(tx, new), "create_instance")
        return await self._create_plain(new)

    async def claim_queued_activity(
        self, spec: ClaimSpec, queues: Sequence[QueueLimits]
    ) -> ActivityWorkItem | None:
        """See ``FlowControl.claim_queued_activity``."""
        return await self._db.run(lambda tx: claim_queued(tx, spec, queues), "claim_activity")

    async def put_schedule(self, schedule_id: str, definition: str) -> None:
        """See ``FlowControl.put_schedule``."""

        async def put(tx: Tx) -> None:
            await tx.conn.execute(
                "INSERT INTO schedules (schedule_id, definition, last_slot) "
                "VALUES ($1, $2, floor(extract(epoch FROM now()))::bigint) "
                "ON CONFLICT (schedule_id) DO UPDATE SET definition = excluded.definition",
                schedule_id,
                definition,
            )

        await self._db.run(put, "put_schedule", notify=False)

    async def get_schedules(self) -> Schedules:
        """See ``FlowControl.get_schedules``."""
        return await self._db.read(_get_schedules, "get_schedules")

    async def advance_schedule(self, schedule_id: str, expected: int, to: int) -> bool:
        """See ``FlowControl.advance_schedule``."""
        result = await self._db.read(
            lambda conn: conn.execute(
                "UPDATE schedules SET last_slot = $3 WHERE schedule_id = $1 AND last_slot = $2",
                schedule_id,
                expected,
                to,
            ),
            "advance_schedule",
        )
        return str(result).endswith(" 1")

    async def pause_schedule(self, schedule_id: str, paused: bool) -> bool:
        """See ``FlowControl.pause_schedule``; resuming skips the slots passed while paused."""
        result = await self._db.read(
            lambda conn: conn.execute(
                "UPDATE schedules SET paused = $2, last_slot = CASE WHEN $2 THEN last_slot "
                "ELSE greatest(last_slot, floor(extract(epoch FROM now()))::bigint) END "
                "WHERE schedule_id = $1",
                schedule_id,
                paused,
            ),
            "pause_schedule",
        )
        return str(result).endswith(" 1")
