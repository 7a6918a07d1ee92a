"""SQLite export and import of whole instances (see ``_dumps``).

An export batch is read in one read transaction, so each instance is a consistent snapshot even
while workers write; an import batch is one write transaction.
"""

from __future__ import annotations

import sqlite3

from .._status import Status
from ._dumps import DumpedActivity, DumpedMessage, InstanceDump
from ._sqlite_rows import (
    Tx,
    dump_error,
    dump_event,
    dump_json,
    load_error,
    load_event,
    load_json,
    to_datetime,
    to_ts,
)


def export_instances(conn: sqlite3.Connection, after: str | None, limit: int) -> list[InstanceDump]:
    conn.execute("BEGIN")  # one snapshot for the whole batch
    try:
        rows = conn.execute(
            "SELECT * FROM instances WHERE instance_id > ? ORDER BY instance_id LIMIT ?",
            ("" if after is None else after, max(int(limit), 0)),
        ).fetchall()
        return [_dump(conn, row) for row in rows]
    finally:
        conn.execute("COMMIT")


def _dump(conn: sqlite3.Connection, row: sqlite3.Row) -> InstanceDump:
    instance_id = row["instance_id"]
    history = conn.execute(
        "SELECT data FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
    ).fetchall()
    inbox = conn.execute(
        "SELECT data, visible_at, execution_id FROM inbox WHERE instance_id = ? ORDER BY id",
        (instance_id,),
    ).fetchall()
    activities = conn.execute(
        "SELECT * FROM activities WHERE instance_id = ? ORDER BY id", (instance_id,)
    ).fetchall()
    return InstanceDump(
        instance_id=instance_id,
        name=row["name"],
        status=Status(row["status"]),
        input=row["input"],
        output=row["output"],
        error=load_error(row["error"]),
        custom_status=row["custom_status"],
        created_at=to_datetime(row["created_at"]),
        updated_at=to_datetime(row["updated_at"]),
        execution_id=row["execution_id"],
        version=row["version"],
        parent_instance_id=row["parent_instance_id"],
        parent_task_id=row["parent_task_id"],
        parent_execution_id=row["parent_execution_id"],
        retry=load_json(row["retry"]),
        attempt=row["attempt"],
        history=[load_event(data) for (data,) in history],
        inbox=[
            DumpedMessage(load_event(data), to_datetime(visible_at), execution_id)
            for data, visible_at, execution_id in inbox
        ],
        activities=[_activity(a) for a in activities],
    )


def _activity(row: sqlite3.Row) -> DumpedActivity:
    deadline = row["start_deadline"]
    # a leased row's visible_at is its lease expiry; exported without the lease it is due now
    visible_at = row["scheduled_at"] if row["lease_owner"] is not None else row["visible_at"]
    return DumpedActivity(
        execution_id=row["execution_id"],
        task_id=row["task_id"],
        name=row["name"],
        queue=row["queue"],
        input=row["input"],
        attempt=row["attempt"],
        retry=load_json(row["retry"]),
        timeout=row["timeout"],
        heartbeat_timeout=row["heartbeat_timeout"],
        start_deadline=None if deadline is None else to_datetime(deadline),
        heartbeat_details=row["heartbeat_details"],
        scheduled_at=to_datetime(row["scheduled_at"]),
        visible_at=to_datetime(visible_at),
        started=bool(row["started"]),
    )


_INSERT_INSTANCE = """
INSERT INTO instances (instance_id, name, status, input, output, error, custom_status, created_at,
    updated_at, execution_id, version, parent_instance_id, parent_task_id, parent_execution_id,
    retry, attempt)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (instance_id) DO NOTHING
"""
_INSERT_ACTIVITY = """
INSERT INTO activities (instance_id, execution_id, task_id, name, queue, input, attempt, retry,
    timeout, heartbeat_timeout, start_deadline, heartbeat_details, scheduled_at, visible_at,
    started)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def import_instances(tx: Tx, dumps: list[InstanceDump]) -> list[str]:
    skipped = []
    for dump in dumps:
        if not _import(tx, dump):
            skipped.append(dump.instance_id)
    return skipped


def _import(tx: Tx, dump: InstanceDump) -> bool:
    cursor = tx.execute(
        _INSERT_INSTANCE,
        (
            dump.instance_id,
            dump.name,
            dump.status.value,
            dump.input,
            dump.output,
            dump_error(dump.error),
            dump.custom_status,
            to_ts(dump.created_at),
            to_ts(dump.updated_at),
            dump.execution_id,
            dump.version,
            dump.parent_instance_id,
            dump.parent_task_id,
            dump.parent_execution_id,
            None if dump.retry is None else dump_json(dump.retry),
            dump.attempt,
        ),
    )
    if cursor.rowcount == 0:
        return False
    iid = dump.instance_id
    tx.conn.executemany(
        "INSERT INTO history (instance_id, seq, kind, data) VALUES (?, ?, ?, ?)",
        [(iid, e.seq, e.kind, dump_event(e)) for e in dump.history],
    )
    tx.conn.executemany(
        "INSERT INTO inbox (instance_id, execution_id, kind, task_id, data, visible_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                iid,
                m.execution_id,
                m.event.kind,
                getattr(m.event, "task_id", None),
                dump_event(m.event),
                to_ts(m.visible_at),
            )
            for m in dump.inbox
        ],
    )
    tx.conn.executemany(
        _INSERT_ACTIVITY,
        [
            (
                iid,
                a.execution_id,
                a.task_id,
                a.name,
                a.queue,
                a.input,
                a.attempt,
                None if a.retry is None else dump_json(a.retry),
                a.timeout,
                a.heartbeat_timeout,
                None if a.start_deadline is None else to_ts(a.start_deadline),
                a.heartbeat_details,
                to_ts(a.scheduled_at),
                to_ts(a.visible_at),
                int(a.started),
            )
            for a in dump.activities
        ],
    )
    tx.work = True
    tx.instances.add(iid)
    return True
