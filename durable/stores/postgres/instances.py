"""PostgreSQL operations on instances and their inboxes: create, read, list, message, purge.

Row conversions live here too: only value types leave the ``postgres`` modules.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from ..._errors import InstanceNotFound
from ..._events import ExecutionStarted, HistoryEvent
from ..._status import Status
from .. import rows
from ..base import ClaimSpec, InstanceRecord, Message, NewInstance, OrchestrationWorkItem
from ..outputs import OUTPUT_TABLES
from ..rows import dump_event, dump_json, load_history, load_json
from ..rules import check_purgeable
from .db import ORCHESTRATIONS, Tx, unnest_columns

TERMINAL = [status.value for status in Status if status.is_terminal]


def instance_record(row: asyncpg.Record) -> InstanceRecord:
    return rows.instance_record(row, rows.as_is)


# -- writes ---------------------------------------------------------------------------------------

_INSERT_MESSAGE = """
INSERT INTO inbox (instance_id, execution_id, kind, task_id, data, visible_at)
VALUES ($1, $2, $3, $4, $5, coalesce($6, now()))
"""


def message_row(
    instance_id: str,
    event: HistoryEvent,
    execution_id: int | None = None,
    visible_at: datetime | None = None,
) -> tuple[Any, ...]:
    """The parameters of ``_INSERT_MESSAGE`` (``visible_at`` None: now)."""
    task_id = getattr(event, "task_id", None)
    return (instance_id, execution_id, event.kind, task_id, dump_event(event), visible_at)


async def insert_messages(tx: Tx, rows: list[tuple[Any, ...]], *, broadcast: bool = True) -> None:
    """Append messages (rows from ``message_row``) to inboxes.

    ``broadcast=False`` when the writer will take them itself (its own instance's timers), so
    other processes need not be told.
    """
    if len(rows) == 1:
        await tx.conn.execute(_INSERT_MESSAGE, *rows[0])
    elif rows:
        await tx.conn.executemany(_INSERT_MESSAGE, rows)
    if rows:
        tx.work.add(ORCHESTRATIONS)
    tx.due = tx.due or any(row[5] is not None for row in rows)
    tx.broadcast = tx.broadcast or (broadcast and bool(rows))


async def insert_message(
    tx: Tx,
    instance_id: str,
    event: HistoryEvent,
    *,
    execution_id: int | None = None,
    visible_at: datetime | None = None,
    broadcast: bool = True,
) -> None:
    """Append ``event`` to the inbox; ``execution_id`` ties it to one run (None: any run)."""
    row = message_row(instance_id, event, execution_id, visible_at)
    await insert_messages(tx, [row], broadcast=broadcast)


#: the database's clock (``now()``) as event JSON writes a time (``datetime.isoformat()``, UTC)
NOW_TEXT = """to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
#: a placeholder time, replaced by ``NOW_TEXT`` in SQL (see ``stamped_by_database``)
_STAMP = datetime(1, 1, 1, tzinfo=UTC)


def stamped_by_database(event: HistoryEvent) -> tuple[str, str]:
    """The event's JSON cut around its timestamp: SQL writes ``before || NOW_TEXT || after``.

    A statement that writes a message and reads the clock in one round trip needs this: the
    event's time is the database's, known only inside the statement. The timestamp is written
    before any caller-supplied field (``kind``, ``seq``, then ``timestamp``), so the first
    occurrence of the placeholder is the timestamp.
    """
    data = dump_event(dataclasses.replace(event, timestamp=_STAMP))
    before, marker, after = data.partition(json.dumps(_STAMP.isoformat()))
    assert marker, "every event has a timestamp"
    return before + '"', '"' + after


# Create instances and their start messages in one statement, leasing those a worker of this
# process takes at once (owner, lease seconds); notify other processes ($13) of the others in
# it too. On a taken id, `mine` tells whether the row is this attempt's (a rerun after a lost
# acknowledgement): the row was committed before this statement's snapshot, so it is seen.
_CREATE = f"""
WITH new AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[],
        $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::float8[])
        WITH ORDINALITY
        AS n(instance_id, name, input, parent_instance_id, parent_task_id, parent_execution_id,
            retry, start_token, before, after, owner, lease, position)
), created AS (
    INSERT INTO instances (instance_id, name, status, input, created_at, updated_at,
        execution_id, version, parent_instance_id, parent_task_id, parent_execution_id, retry,
        start_token, lease_owner, lease_expires_at)
    SELECT instance_id, name, 'PENDING', input, now(), now(), 1, 0, parent_instance_id,
        parent_task_id, parent_execution_id, retry, start_token, owner,
        CASE WHEN owner IS NOT NULL THEN now() + lease * interval '1 second' END
    FROM new
    ON CONFLICT (instance_id) DO NOTHING
    RETURNING instance_id
), started AS (
    INSERT INTO inbox (instance_id, execution_id, kind, task_id, data, visible_at)
    SELECT new.instance_id, 1, 'ExecutionStarted', NULL, new.before || {NOW_TEXT} || new.after,
        now()
    FROM new JOIN created ON created.instance_id = new.instance_id
    RETURNING id, instance_id
)
SELECT created.instance_id IS NOT NULL AS created, now() AS tx_now, started.id AS message_id,
    taken.start_token = new.start_token AS mine,
    CASE WHEN $13 AND created.instance_id IS NOT NULL AND new.owner IS NULL
        THEN pg_notify($14, $15) END AS notified
FROM new LEFT JOIN created ON created.instance_id = new.instance_id
    LEFT JOIN started ON started.instance_id = new.instance_id
    LEFT JOIN instances AS taken ON taken.instance_id = new.instance_id
ORDER BY new.position
"""  # noqa: S608 (constants only)


@dataclass(frozen=True)
class Creation:
    """An instance to create: what, the attempt's token, the parent's run (for a child), and
    the claim to lease it to at once (a worker of this process that takes it)."""

    new: NewInstance
    token: str | None = None
    parent_execution_id: int | None = None
    lease_to: ClaimSpec | None = None


async def insert_instances(
    tx: Tx, batch: list[Creation], *, notify: bool = False
) -> list[tuple[bool, OrchestrationWorkItem | None]]:
    """Create PENDING instances with their ``ExecutionStarted`` messages, in one statement.

    For each creation of ``batch`` (distinct ids): True if it was created, False if its id is
    taken; and the work item of an instance leased to its ``lease_to`` claimer. ``token``
    marks this attempt: if a commit's acknowledgement was lost and the operation is rerun, a
    row carrying the same token is ours, not a taken id (it is not handed over again: its
    lease runs out). ``notify``: the statement tells other processes itself (an operation of
    this one statement); otherwise the transaction's commit does.
    """
    rows: list[tuple[Any, ...]] = []
    starts = []
    for creation in batch:
        new, claim = creation.new, creation.lease_to
        started = ExecutionStarted(
            name=new.name,
            input=new.input,
            parent_instance_id=new.parent_instance_id,
            parent_task_id=new.parent_task_id,
        )
        starts.append(started)
        rows.append(
            (
                new.instance_id,
                new.name,
                new.input,
                new.parent_instance_id,
                new.parent_task_id,
                creation.parent_execution_id,
                None if new.retry is None else dump_json(new.retry),
                creation.token,
                *stamped_by_database(started),
                None if claim is None else claim.worker_id,
                None if claim is None else claim.lease_seconds,
            )
        )
    payload = tx.payload([ORCHESTRATIONS], [])
    created = await tx.conn.fetch(_CREATE, *unnest_columns(rows, 12), notify, tx.channel, payload)
    results: list[tuple[bool, OrchestrationWorkItem | None]] = []
    for creation, started, values, row in zip(batch, starts, rows, created, strict=True):
        if not row["created"]:
            results.append((creation.token is not None and bool(row["mine"]), None))
            continue
        tx.now = row["tx_now"]
        if creation.lease_to is None:  # for any claimer
            tx.work.add(ORCHESTRATIONS)
            tx.broadcast = tx.broadcast or not notify
            results.append((True, None))
            continue
        message = Message(row["message_id"], dataclasses.replace(started, timestamp=tx.now))
        results.append((True, _first_item(creation.new, values[6], message, tx.now)))
    return results


def _first_item(
    new: NewInstance, retry: str | None, start: Message, now: datetime
) -> OrchestrationWorkItem:
    """The work item of an instance leased as it was created (``retry``: as stored): its start
    message alone."""
    return OrchestrationWorkItem(
        instance_id=new.instance_id,
        name=new.name,
        execution_id=1,
        version=0,
        status=Status.PENDING,
        messages=[start],
        now=now,
        parent_instance_id=new.parent_instance_id,
        parent_task_id=new.parent_task_id,
        retry=load_json(retry),
        attempt=1,
    )


def new_token() -> str:
    return uuid.uuid4().hex


async def locked_status(tx: Tx, instance_id: str) -> Status | None:
    """The instance's status, holding its row against a concurrent episode commit until ours
    ends, so a message never slips in beside a commit that finishes or restarts the run."""
    status = await tx.conn.fetchval(
        "SELECT status FROM instances WHERE instance_id = $1 FOR SHARE", instance_id
    )
    return None if status is None else Status(status)


async def deliver(
    tx: Tx, instance_id: str, event: HistoryEvent, execution_id: int | None = None
) -> bool:
    """Append a message to a live instance; False (nothing written) if it is missing or ended."""
    status = await locked_status(tx, instance_id)
    if status is None or status.is_terminal:
        return False
    await insert_message(tx, instance_id, event, execution_id=execution_id)
    return True


async def send_message(tx: Tx, instance_id: str, event: HistoryEvent) -> None:
    """A raised event or control request; to a finished instance it is dropped."""
    status = await locked_status(tx, instance_id)
    if status is None:
        raise InstanceNotFound(instance_id)
    if not status.is_terminal:
        await insert_message(tx, instance_id, event)


#: the instance and its sub-orchestrations, recursively (UNION: each once, even in a cycle)
_TREE = """
WITH RECURSIVE tree(instance_id) AS (
    SELECT $1::text UNION SELECT i.instance_id FROM instances i JOIN tree t
        ON i.parent_instance_id = t.instance_id
)
SELECT instance_id FROM tree
"""


async def purge_instance(tx: Tx, instance_id: str) -> int:
    """Delete a finished instance and its sub-orchestrations (recursively); how many went."""
    ids = [row[0] for row in await tx.conn.fetch(_TREE, instance_id)]
    locked = await tx.conn.fetch(
        "SELECT instance_id, status FROM instances WHERE instance_id = ANY($1::text[]) "
        "ORDER BY instance_id FOR UPDATE",
        ids,
    )
    statuses = {row["instance_id"]: Status(row["status"]) for row in locked}
    if instance_id not in statuses:
        return 0
    check_purgeable(instance_id, statuses)
    gone = list(statuses)
    for table in ("history", "inbox", "activities", "instances", "traces", "tags", *OUTPUT_TABLES):
        await tx.conn.execute(
            f"DELETE FROM {table} WHERE instance_id = ANY($1::text[])",  # noqa: S608
            gone,
        )
    return len(gone)


# -- reads ----------------------------------------------------------------------------------------


async def get_instances(
    conn: asyncpg.Connection, instance_ids: list[str]
) -> list[InstanceRecord | None]:
    """The instances of ``instance_ids``, in order (None for a missing one), in one statement."""
    rows = await conn.fetch(
        "SELECT * FROM instances WHERE instance_id = ANY($1::text[])", instance_ids
    )
    found = {row["instance_id"]: instance_record(row) for row in rows}
    return [found.get(instance_id) for instance_id in instance_ids]


async def get_history(conn: asyncpg.Connection, instance_id: str) -> list[HistoryEvent]:
    rows = await conn.fetch(
        "SELECT seq, data FROM history WHERE instance_id = $1 ORDER BY seq", instance_id
    )
    return load_history(instance_id, rows)
