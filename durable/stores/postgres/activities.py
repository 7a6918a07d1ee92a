"""PostgreSQL operations on activity attempts: schedule, claim, complete, fail, heartbeat,
expire (the rules are the SQLite store's, see ``sqlite.activities``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ..._actions import ScheduleActivity
from ..._events import ActivityCompleted, ActivityFailed, ErrorInfo
from .. import rows
from ..base import ActivityWorkItem, ClaimSpec, Message, OrchestrationWorkItem
from ..rows import dump_json, load_json
from ..rules import activity_timeout_error, storable_retry
from .claims import CLAIMABLE, INBOX_OF_LEASED, LEASED, NO_FLUSH, claim_params, work_item
from .db import ACTIVITIES, ORCHESTRATIONS, Tx, unnest_columns
from .instances import NOW_TEXT, insert_message, stamped_by_database


def inserted_activities(first: int) -> str:
    """``INSERT INTO activities ... SELECT`` the rows of ``activity_values`` tuples, passed as
    one array per value from parameter ``$first`` on (an ``unnest``), leased to their owner if
    they have one. It needs a ``FROM``/``JOIN`` after it, and returns nothing yet."""
    n = [f"${first + offset}" for offset in range(14)]
    return f"""
    INSERT INTO activities (instance_id, execution_id, task_id, name, queue, input, attempt,
        retry, timeout, heartbeat_timeout, start_deadline, scheduled_at, visible_at,
        lease_owner, started, priority, fairness_key)
    SELECT a.instance_id, a.execution_id, a.task_id, a.name, a.queue, a.input,
        CASE WHEN a.owner IS NULL THEN 0 ELSE 1 END, a.retry, a.timeout, a.heartbeat_timeout,
        now() + a.to_start * interval '1 second', now(), now() + a.lease * interval '1 second',
        a.owner, a.owner IS NOT NULL, a.priority, a.fairness_key
    FROM unnest({n[0]}::text[], {n[1]}::int[], {n[2]}::int[], {n[3]}::text[], {n[4]}::text[],
            {n[5]}::text[], {n[6]}::text[], {n[7]}::float8[], {n[8]}::float8[],
            {n[9]}::float8[], {n[10]}::float8[], {n[11]}::text[], {n[12]}::int[],
            {n[13]}::text[])
        AS a(instance_id, execution_id, task_id, name, queue, input, retry, timeout,
            heartbeat_timeout, to_start, lease, owner, priority, fairness_key)"""  # noqa: S608 (constants only)


_INSERT_ACTIVITIES = f"""{inserted_activities(1)}
RETURNING task_id, id, started
"""
_CLAIM_ACTIVITY = f"""
UPDATE activities SET lease_owner = $1, visible_at = now() + $2 * interval '1 second',
    attempt = attempt + 1, started = true
WHERE id = (
    SELECT id FROM activities
    WHERE queue = ANY($3::text[]) AND visible_at <= now() AND name = ANY($4::text[])
    ORDER BY visible_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED)
RETURNING *, {NO_FLUSH} AS no_flush
"""  # noqa: S608 (constants only)
_HELD = "id = $1 AND lease_owner = $2 AND attempt = $3"
# Attempts' outcomes, many in one statement: each activity row goes ($6-$8), its result goes to
# the instance's inbox (stamped with the database's time), and the caller leases the instance
# if it asked to ($12) and may, reading its messages. The messages it writes are not in the
# statement's snapshot: they come back from RETURNING instead. Other processes are told of the
# results the caller does not take. When the caller takes every instance, it commits their
# next episodes right after, and that commit's WAL flush makes this one durable too: it does
# not wait for its own (lost in a crash of the server before then, an attempt would run again,
# as after any crash: activities run at least once).
_FINISH = f"""
WITH f AS (
    SELECT * FROM unnest($6::bigint[], $7::text[], $8::int[], $9::text[], $10::text[],
            $11::text[], $12::bool[]) WITH ORDINALITY
        AS f(id, owner, attempt, kind, before, after, claim, position)
), finished AS (
    DELETE FROM activities AS a USING f
    WHERE a.id = f.id AND a.lease_owner = f.owner AND a.attempt = f.attempt
    RETURNING a.instance_id, a.execution_id, a.task_id, f.kind, f.before, f.after, f.claim,
        f.position
), message AS (
    INSERT INTO inbox (instance_id, execution_id, kind, task_id, data, visible_at)
    SELECT instance_id, execution_id, kind, task_id, before || {NOW_TEXT} || after, now()
    FROM finished
    RETURNING id, instance_id, task_id
), candidate AS (
    SELECT i.instance_id FROM instances AS i
    WHERE i.instance_id IN (SELECT instance_id FROM finished WHERE claim) AND {CLAIMABLE}
      AND (i.status <> 'SUSPENDED' OR EXISTS (SELECT 1 FROM inbox AS m
          WHERE m.instance_id = i.instance_id AND m.visible_at <= now()
            AND m.kind = ANY($5::text[])))
    FOR UPDATE OF i SKIP LOCKED
){LEASED}, untaken AS (
    SELECT 1 FROM finished LEFT JOIN leased ON leased.instance_id = finished.instance_id
    WHERE leased.instance_id IS NULL
)
SELECT finished.position, message.id AS message_id, now() AS tx_now, leased.*, inbox.ids,
    inbox.runs, inbox.data,
    (SELECT pg_notify($13, $14) WHERE EXISTS (SELECT 1 FROM untaken)) AS told,
    (SELECT {NO_FLUSH} WHERE NOT EXISTS (SELECT 1 FROM untaken)) AS no_flush
FROM finished
    JOIN message ON message.instance_id = finished.instance_id
        AND message.task_id = finished.task_id
    LEFT JOIN leased ON leased.instance_id = finished.instance_id
    LEFT JOIN {INBOX_OF_LEASED} ON true
"""  # noqa: S608 (constants only)


def activity_item(row: asyncpg.Record, worker_id: str) -> ActivityWorkItem:
    return rows.activity_item(row, worker_id, rows.as_is)


def activity_values(
    instance_id: str, execution_id: int, action: ScheduleActivity, claim: ClaimSpec | None
) -> tuple[Any, ...]:
    """A new activity's values, in ``inserted_activities``' order; with ``claim``, leased to it
    (its first attempt)."""
    options = action.options
    stored = None if options.retry is None else storable_retry(options.retry)
    return (
        instance_id,
        execution_id,
        action.task_id,
        action.name,
        options.queue,
        action.input,
        None if stored is None else dump_json(stored),
        options.timeout,
        options.heartbeat_timeout,
        options.schedule_to_start_timeout,
        0.0 if claim is None else claim.lease_seconds,
        None if claim is None else claim.worker_id,
        options.priority,
        options.fairness_key,
    )


def leased_item(values: tuple[Any, ...], activity_id: int, now: datetime) -> ActivityWorkItem:
    """The work item of an activity inserted leased, from its ``activity_values``."""
    instance_id, execution_id, task_id, name, queue, input_, retry, timeout, heartbeat = values[:9]
    return ActivityWorkItem(
        id=activity_id,
        instance_id=instance_id,
        execution_id=execution_id,
        task_id=task_id,
        name=name,
        input=input_,
        queue=queue,
        attempt=1,
        retry=load_json(retry),
        timeout=timeout,
        heartbeat_timeout=heartbeat,
        heartbeat_details=None,
        scheduled_at=now,
        worker_id=values[11],
    )


async def schedule_activities(tx: Tx, rows: list[tuple[Any, ...]]) -> list[ActivityWorkItem]:
    """Insert activities (``activity_values``) in one statement; the work items of the leased."""
    if not rows:
        return []
    inserted = await tx.conn.fetch(_INSERT_ACTIVITIES, *unnest_columns(rows, 14))
    if any(row[11] is None for row in rows):
        tx.work.add(ACTIVITIES)
        tx.broadcast = True
    ids = {row["task_id"]: row["id"] for row in inserted}
    now = await tx.clock()
    return [leased_item(row, ids[row[2]], now) for row in rows if row[11] is not None]


async def claim_activity(tx: Tx, spec: ClaimSpec) -> ActivityWorkItem | None:
    row = await tx.conn.fetchrow(
        _CLAIM_ACTIVITY,
        spec.worker_id,
        spec.lease_seconds,
        sorted(spec.queues),
        sorted(spec.activities),
    )
    return None if row is None else activity_item(row, spec.worker_id)


def _held(item: ActivityWorkItem) -> tuple[Any, ...]:
    return (item.id, item.worker_id, item.attempt)


async def fail_activity(
    tx: Tx, item: ActivityWorkItem, error: ErrorInfo, retry_in: float | None
) -> bool:
    if retry_in is None:
        event = ActivityFailed(task_id=item.task_id, error=error, attempts=item.attempt)
        [(done, _)] = await finish_many(tx, [Finish(item, event, None)])
        return done
    # the next attempt, after the backoff; the count is kept
    status = await tx.conn.execute(
        "UPDATE activities SET lease_owner = NULL, "  # noqa: S608 (constants only)
        f"visible_at = now() + $4 * interval '1 second' WHERE {_HELD}",
        *_held(item),
        max(retry_in, 0.0),
    )
    if status == "UPDATE 0":
        return False
    tx.work.add(ACTIVITIES)
    tx.broadcast = tx.due = True
    return True


@dataclass(frozen=True)
class Finish:
    """An attempt's outcome to record: ``event`` for its instance, which ``claim`` would take."""

    item: ActivityWorkItem
    event: ActivityCompleted | ActivityFailed
    claim: ClaimSpec | None


async def finish_many(
    tx: Tx, finishes: list[Finish]
) -> list[tuple[bool, OrchestrationWorkItem | None]]:
    """End the attempts (see ``_FINISH``): for each, False if its lease was lost (nothing
    written), and the work item of its instance when its claimer took it. Claimers that differ
    take a statement each; of several results for one instance, the first carries the lease.
    """
    groups: dict[ClaimSpec | None, list[int]] = {}
    for index, finish in enumerate(finishes):
        groups.setdefault(finish.claim, []).append(index)
    if None in groups and len(groups) > 1:  # results taken by no one ride with a claimer
        groups[next(spec for spec in groups if spec is not None)] += groups.pop(None)
    outcomes: list[tuple[bool, OrchestrationWorkItem | None]] = [(False, None)] * len(finishes)
    for spec, indexes in groups.items():
        group = [finishes[index] for index in indexes]
        for index, outcome in zip(indexes, await _finish_group(tx, group, spec), strict=True):
            outcomes[index] = outcome
    return outcomes


async def _finish_group(
    tx: Tx, finishes: list[Finish], spec: ClaimSpec | None
) -> list[tuple[bool, OrchestrationWorkItem | None]]:
    values = [
        (
            finish.item.id,
            finish.item.worker_id,
            finish.item.attempt,
            finish.event.kind,
            *stamped_by_database(finish.event),
            finish.claim is not None,
        )
        for finish in finishes
    ]
    claim = spec or ClaimSpec(finishes[0].item.worker_id, 0.0)  # claims nothing then
    rows = await tx.conn.fetch(
        _FINISH,
        *claim_params(claim),
        *unnest_columns(values, 7),
        tx.channel,
        tx.payload([ORCHESTRATIONS], []),
    )
    outcomes: list[tuple[bool, OrchestrationWorkItem | None]] = [(False, None)] * len(finishes)
    # the messages each leased instance got from this statement, in the finishes' order: its
    # first finish carries the lease and the work item, with all of them
    leased: dict[str, tuple[asyncpg.Record, list[Message]]] = {}
    for row in sorted(rows, key=lambda row: row["position"]):
        tx.now = row["tx_now"]
        instance_id = row["instance_id"]
        outcomes[row["position"] - 1] = (True, None)
        if instance_id is None:  # this process's claimers are woken too
            tx.work.add(ORCHESTRATIONS)
            continue
        event = dataclasses.replace(finishes[row["position"] - 1].event, timestamp=tx.now)
        first, arrived = leased.setdefault(instance_id, (row, []))
        arrived.append(Message(row["message_id"], event))
    for first, arrived in leased.values():
        outcomes[first["position"] - 1] = (True, await work_item(tx, first, arrived))
    return outcomes


async def heartbeat_activity(
    tx: Tx, item: ActivityWorkItem, details: str | None, lease_seconds: float
) -> bool:
    status = await tx.conn.execute(
        "UPDATE activities SET heartbeat_details = $4, "  # noqa: S608 (constants only)
        f"visible_at = now() + $5 * interval '1 second' WHERE {_HELD}",
        *_held(item),
        details,
        lease_seconds,
    )
    return bool(status != "UPDATE 0")


async def expire_unstarted(tx: Tx) -> int:
    """Fail, with ``durable.TaskTimeout``, the activities no attempt started before the deadline."""
    rows = await tx.conn.fetch(
        """DELETE FROM activities
           WHERE NOT started AND start_deadline IS NOT NULL AND start_deadline < now()
           RETURNING instance_id, execution_id, task_id, name,
               extract(epoch FROM start_deadline - scheduled_at) AS allowed, now() AS tx_now"""
    )
    for row in rows:
        error = activity_timeout_error(row["name"], float(row["allowed"]))
        event = ActivityFailed(
            timestamp=row["tx_now"], task_id=row["task_id"], error=error, attempts=0
        )
        await insert_message(tx, row["instance_id"], event, execution_id=row["execution_id"])
    return len(rows)
