"""SQLite operations on instances and their inboxes: create, read, list, message, purge.

Write operations take a ``Tx`` (they run inside the store's group-committed transaction); reads
take the connection and the store's clock.
"""

from __future__ import annotations

import sqlite3

from ..._errors import InstanceNotFound
from ..._events import ExecutionStarted, HistoryEvent
from ..._status import Status
from ..base import InstanceRecord, NewInstance
from ..flow import has_options
from ..outputs import OUTPUT_TABLES
from ..rows import load_history
from ..rules import check_purgeable
from . import flow
from .rows import (
    TERMINAL_SQL,
    Tx,
    dump_event,
    dump_json,
    instance_record,
    to_datetime,
)

_INSERT_INSTANCE = """
INSERT INTO instances (instance_id, name, status, input, created_at, updated_at, execution_id,
    version, parent_instance_id, parent_task_id, parent_execution_id, retry)
VALUES (?, ?, 'PENDING', ?, ?, ?, 1, 0, ?, ?, ?, ?)
ON CONFLICT (instance_id) DO NOTHING
"""
_INSERT_MESSAGE = """
INSERT INTO inbox (instance_id, execution_id, kind, task_id, data, visible_at)
VALUES (?, ?, ?, ?, ?, ?)
"""


def insert_message(
    tx: Tx,
    instance_id: str,
    event: HistoryEvent,
    *,
    execution_id: int | None = None,
    visible_at: float | None = None,
) -> int:
    """Append ``event`` to the inbox; ``execution_id`` ties it to one run (None: any run).

    Returns the message's id.
    """
    cursor = tx.execute(
        _INSERT_MESSAGE,
        (
            instance_id,
            execution_id,
            event.kind,
            getattr(event, "task_id", None),
            dump_event(event),
            tx.now if visible_at is None else visible_at,
        ),
    )
    tx.work = True
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def insert_instance(
    tx: Tx, new: NewInstance, parent_execution_id: int | None = None, *, with_start: bool = True
) -> bool:
    """Create a PENDING instance with its ``ExecutionStarted`` message; False if the id is taken.

    ``with_start=False``: without the message (the caller commits the first episode at once).
    """
    cursor = tx.execute(
        _INSERT_INSTANCE,
        (
            new.instance_id,
            new.name,
            new.input,
            tx.now,
            tx.now,
            new.parent_instance_id,
            new.parent_task_id,
            parent_execution_id,
            None if new.retry is None else dump_json(new.retry),
        ),
    )
    if cursor.rowcount == 0:
        return False
    if has_options(new):
        flow.keep_options(tx, new)
    if not with_start:
        return True
    started = ExecutionStarted(
        timestamp=to_datetime(tx.now),
        name=new.name,
        input=new.input,
        parent_instance_id=new.parent_instance_id,
        parent_task_id=new.parent_task_id,
    )
    insert_message(
        tx, new.instance_id, started, execution_id=1, visible_at=flow.start_visible_at(tx, new)
    )
    tx.instances.add(new.instance_id)
    return True


def status_of(tx: Tx, instance_id: str) -> Status | None:
    row = tx.one("SELECT status FROM instances WHERE instance_id = ?", (instance_id,))
    return None if row is None else Status(row[0])


def deliver(tx: Tx, instance_id: str, event: HistoryEvent, execution_id: int | None = None) -> bool:
    """Append a message to a live instance; False (nothing written) if it is missing or ended."""
    status = status_of(tx, instance_id)
    if status is None or status.is_terminal:
        return False
    insert_message(tx, instance_id, event, execution_id=execution_id)
    return True


def send_message(tx: Tx, instance_id: str, event: HistoryEvent) -> None:
    """A raised event or control request for the current run.

    To a finished instance it is dropped: nothing would ever take it.
    """
    status = status_of(tx, instance_id)
    if status is None:
        raise InstanceNotFound(instance_id)
    if not status.is_terminal:
        insert_message(tx, instance_id, event)


#: the instance and its sub-orchestrations, recursively (UNION: each once, even in a cycle)
_TREE = """
WITH RECURSIVE tree(instance_id) AS (
    SELECT ? UNION SELECT i.instance_id FROM instances i JOIN tree t
        ON i.parent_instance_id = t.instance_id
)
SELECT i.instance_id, i.status FROM tree JOIN instances i USING (instance_id)
"""


def purge_instance(tx: Tx, instance_id: str) -> int:
    """Delete a finished instance and its sub-orchestrations (recursively); how many went."""
    statuses = {row[0]: Status(row[1]) for row in tx.execute(_TREE, (instance_id,))}
    if instance_id not in statuses:
        return 0
    check_purgeable(instance_id, statuses)
    tree = dump_json(sorted(statuses))
    for table in ("instances", "history", "inbox", "activities", "traces", "tags", *OUTPUT_TABLES):
        tx.execute(
            f"DELETE FROM {table} WHERE instance_id IN (SELECT value FROM json_each(?))",  # noqa: S608
            (tree,),
        )
    return len(statuses)


# -- reads ----------------------------------------------------------------------------------------


def get_instance(conn: sqlite3.Connection, instance_id: str) -> InstanceRecord | None:
    row = conn.execute("SELECT * FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
    return None if row is None else instance_record(row)


def finished_among(conn: sqlite3.Connection, instance_ids: list[str]) -> set[str]:
    rows = conn.execute(
        "SELECT instance_id FROM instances "  # noqa: S608 (constants only)
        f"WHERE instance_id IN (SELECT value FROM json_each(?)) AND status IN {TERMINAL_SQL}",
        (dump_json(instance_ids),),
    )
    return {row[0] for row in rows}


def get_history(conn: sqlite3.Connection, instance_id: str) -> list[HistoryEvent]:
    rows = conn.execute(
        "SELECT seq, data FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
    ).fetchall()
    return load_history(instance_id, rows)
