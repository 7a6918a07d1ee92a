"""SQLite operations on activity attempts: schedule, claim, complete, fail, heartbeat, expire.

A row is one scheduled activity; each claim starts an attempt (``attempt`` + 1). While leased,
its ``visible_at`` is the lease's expiry, so an expired lease is claimable like a new row. A
completion or failure is accepted only from the attempt that holds the row (same ``attempt`` and
``lease_owner``): the first one wins, a stale one changes nothing.
"""

from __future__ import annotations

from functools import lru_cache

from ..._actions import ScheduleActivity
from ..._events import ActivityCompleted, ActivityFailed, ErrorInfo
from ..base import ActivityWorkItem, ClaimSpec
from ..rules import activity_timeout_error, storable_retry
from .instances import insert_message
from .rows import (
    ITEM_COLUMNS,
    Tx,
    dump_json,
    item_of,
    load_json,
    names_json,
    sorted_names,
    to_datetime,
)

_INSERT = """
INSERT INTO activities (instance_id, execution_id, task_id, name, queue, input, attempt, retry,
    timeout, heartbeat_timeout, start_deadline, scheduled_at, visible_at, lease_owner, started,
    priority, fairness_key)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
# No ORDER BY: with one queue the (queue, visible_at) index yields the oldest row first anyway,
# and with several a sort would read every visible row of a backlog.
_CLAIM = f"""
UPDATE activities SET lease_owner = :owner, visible_at = :until, attempt = attempt + 1, started = 1
WHERE id = (
    SELECT id FROM activities
    WHERE queue IN (SELECT value FROM json_each(:queues)) AND visible_at <= :now
      AND name IN (SELECT value FROM json_each(:names))
    LIMIT 1)
RETURNING {ITEM_COLUMNS}
"""  # noqa: S608 (constants only)
_HELD = "id = :id AND lease_owner = :owner AND attempt = :attempt"
#: the attempt's row goes, if the attempt still holds it (positional: a step's hottest statement)
_FINISH = (
    "DELETE FROM activities WHERE id = ? AND lease_owner = ? AND attempt = ? "
    "RETURNING instance_id, execution_id, task_id"
)


def schedule_activity(
    tx: Tx, instance_id: str, execution_id: int, action: ScheduleActivity, claim: ClaimSpec | None
) -> ActivityWorkItem | None:
    """Insert the activity's row; with ``claim``, leased to it at once (its first attempt)."""
    options = action.options
    to_start = options.schedule_to_start_timeout
    leased = claim is not None
    retry = _retry_json(action)
    cursor = tx.conn.execute(
        _INSERT,
        (
            instance_id,
            execution_id,
            action.task_id,
            action.name,
            options.queue,
            action.input,
            1 if leased else 0,
            retry,
            options.timeout,
            options.heartbeat_timeout,
            None if to_start is None else tx.now + to_start,
            tx.now,
            tx.now + claim.lease_seconds if claim is not None else tx.now,
            claim.worker_id if claim is not None else None,
            1 if leased else 0,
            options.priority,
            options.fairness_key,
        ),
    )
    if claim is None:
        tx.work = True
        return None
    # the item from the values just written (reading the row back cost more than the insert),
    # as the row would give them: REAL columns read back as floats, the retry policy as JSON
    assert cursor.lastrowid is not None
    return ActivityWorkItem(
        id=cursor.lastrowid,
        instance_id=instance_id,
        execution_id=execution_id,
        task_id=action.task_id,
        name=action.name,
        input=action.input,
        queue=options.queue,
        attempt=1,
        retry=load_json(retry),
        timeout=_real(options.timeout),
        heartbeat_timeout=_real(options.heartbeat_timeout),
        heartbeat_details=None,
        scheduled_at=to_datetime(tx.now),
        worker_id=claim.worker_id,
    )


def _real(value: float | None) -> float | None:
    return None if value is None else float(value)


def _retry_json(action: ScheduleActivity) -> str | None:
    stored = None if action.options.retry is None else storable_retry(action.options.retry)
    return None if stored is None else dump_json(stored)


def claim_activity(tx: Tx, spec: ClaimSpec) -> ActivityWorkItem | None:
    queues, names = sorted_names(spec.queues), sorted_names(spec.activities)
    if len(queues) + len(names) <= MAX_LISTED:
        # the names as parameters: half the cost of reading them out of JSON with json_each
        until = tx.now + spec.lease_seconds
        sql = _claim_listed(len(queues), len(names))
        row = tx.one(sql, (spec.worker_id, until, *queues, tx.now, *names))
    else:
        params = {
            "owner": spec.worker_id,
            "until": tx.now + spec.lease_seconds,
            "queues": names_json(spec.queues),
            "now": tx.now,
            "names": names_json(spec.activities),
        }
        row = tx.one(_CLAIM, params)
    return None if row is None else item_of(row, spec.worker_id)


#: up to this many queue and activity names go into the claim as parameters (SQLite allows
#: 32,766 parameters; a worker serving more names than this claims through ``json_each``)
MAX_LISTED = 256


@lru_cache(maxsize=32)
def _claim_listed(queues: int, names: int) -> str:
    """``_CLAIM`` with ``queues`` and ``names`` parameters in its IN lists."""
    return (
        _CLAIM.replace(":owner", "?")
        .replace(":until", "?")
        .replace(":now", "?")
        .replace("SELECT value FROM json_each(:queues)", ", ".join("?" * queues))
        .replace("SELECT value FROM json_each(:names)", ", ".join("?" * names))
    )


def _held(item: ActivityWorkItem) -> dict[str, object]:
    return {"id": item.id, "owner": item.worker_id, "attempt": item.attempt}


def finish(tx: Tx, item: ActivityWorkItem) -> tuple[str, int, int] | None:
    """Delete the attempt's row if it still holds it: its instance, run and task id."""
    held = (item.id, item.worker_id, item.attempt)
    row = tx.conn.execute(_FINISH, held).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def completed(tx: Tx, task_id: int, result: str) -> ActivityCompleted:
    """The message of a completion that waits in the inbox (stamped with the store's time)."""
    return ActivityCompleted(timestamp=to_datetime(tx.now), task_id=task_id, result=result)


def fail_activity(tx: Tx, item: ActivityWorkItem, error: ErrorInfo, retry_in: float | None) -> bool:
    if retry_in is not None:  # the next attempt, after the backoff; the count is kept
        cursor = tx.execute(
            f"UPDATE activities SET lease_owner = NULL, visible_at = :at WHERE {_HELD}",  # noqa: S608
            {**_held(item), "at": tx.now + max(retry_in, 0.0)},
        )
        if not cursor.rowcount:
            return False
        tx.work = True
        return True
    finished = finish(tx, item)
    if finished is None:
        return False
    instance_id, execution_id, task_id = finished
    event = ActivityFailed(
        timestamp=to_datetime(tx.now), task_id=task_id, error=error, attempts=item.attempt
    )
    insert_message(tx, instance_id, event, execution_id=execution_id)
    return True


def heartbeat_activity(
    tx: Tx, item: ActivityWorkItem, details: str | None, lease_seconds: float
) -> bool:
    cursor = tx.execute(
        f"UPDATE activities SET heartbeat_details = :details, visible_at = :until WHERE {_HELD}",  # noqa: S608
        {**_held(item), "details": details, "until": tx.now + lease_seconds},
    )
    return bool(cursor.rowcount)


def expire_unstarted(tx: Tx) -> int:
    """Fail, with ``durable.TaskTimeout``, the activities no attempt started before the deadline."""
    rows = tx.execute(
        """DELETE FROM activities
           WHERE started = 0 AND start_deadline IS NOT NULL AND start_deadline < ?
           RETURNING instance_id, execution_id, task_id, name, start_deadline - scheduled_at""",
        (tx.now,),
    ).fetchall()
    for instance_id, execution_id, task_id, name, allowed in rows:
        error = activity_timeout_error(name, allowed)
        event = ActivityFailed(
            timestamp=to_datetime(tx.now), task_id=task_id, error=error, attempts=0
        )
        insert_message(tx, instance_id, event, execution_id=execution_id)
    return len(rows)
