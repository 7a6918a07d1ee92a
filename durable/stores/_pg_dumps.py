"""PostgreSQL export and import of whole instances (see ``_dumps``).

An export batch is read in one REPEATABLE READ snapshot, so each instance is consistent even
while workers write; an import batch is one transaction.
"""

from __future__ import annotations

import asyncpg

from .._status import Status
from ._dumps import DumpedActivity, DumpedMessage, InstanceDump
from ._pg_db import Tx
from ._pg_instances import dump_error, dump_event, dump_json, load_error, load_event, load_json


async def export_instances(tx: Tx, after: str | None, limit: int) -> list[InstanceDump]:
    conn = tx.conn
    rows = await conn.fetch(
        "SELECT * FROM instances WHERE instance_id > $1 ORDER BY instance_id LIMIT $2",
        "" if after is None else after,
        max(int(limit), 0),
    )
    ids = [row["instance_id"] for row in rows]
    history = await _grouped(conn, "SELECT instance_id, data FROM history", "seq", ids)
    inbox = await _grouped(
        conn, "SELECT instance_id, data, visible_at, execution_id FROM inbox", "id", ids
    )
    activities = await _grouped(conn, "SELECT * FROM activities", "id", ids)
    return [
        _dump(row, history.get(iid, []), inbox.get(iid, []), activities.get(iid, []))
        for row, iid in zip(rows, ids, strict=True)
    ]


async def _grouped(
    conn: asyncpg.Connection, select: str, order: str, ids: list[str]
) -> dict[str, list[asyncpg.Record]]:
    grouped: dict[str, list[asyncpg.Record]] = {}
    if not ids:
        return grouped
    sql = f"{select} WHERE instance_id = ANY($1::text[]) ORDER BY instance_id, {order}"
    for row in await conn.fetch(sql, ids):
        grouped.setdefault(row["instance_id"], []).append(row)
    return grouped


def _dump(
    row: asyncpg.Record,
    history: list[asyncpg.Record],
    inbox: list[asyncpg.Record],
    activities: list[asyncpg.Record],
) -> InstanceDump:
    return InstanceDump(
        instance_id=row["instance_id"],
        name=row["name"],
        status=Status(row["status"]),
        input=row["input"],
        output=row["output"],
        error=load_error(row["error"]),
        custom_status=row["custom_status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        execution_id=row["execution_id"],
        version=row["version"],
        parent_instance_id=row["parent_instance_id"],
        parent_task_id=row["parent_task_id"],
        parent_execution_id=row["parent_execution_id"],
        retry=load_json(row["retry"]),
        attempt=row["attempt"],
        history=[load_event(r["data"]) for r in history],
        inbox=[
            DumpedMessage(load_event(r["data"]), r["visible_at"], r["execution_id"]) for r in inbox
        ],
        activities=[_activity(a) for a in activities],
    )


def _activity(row: asyncpg.Record) -> DumpedActivity:
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
        start_deadline=row["start_deadline"],
        heartbeat_details=row["heartbeat_details"],
        scheduled_at=row["scheduled_at"],
        visible_at=visible_at,
        started=row["started"],
    )


_INSERT_INSTANCE = """
INSERT INTO instances (instance_id, name, status, input, output, error, custom_status, created_at,
    updated_at, execution_id, version, parent_instance_id, parent_task_id, parent_execution_id,
    retry, attempt)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT (instance_id) DO NOTHING
RETURNING instance_id
"""
_INSERT_ACTIVITY = """
INSERT INTO activities (instance_id, execution_id, task_id, name, queue, input, attempt, retry,
    timeout, heartbeat_timeout, start_deadline, heartbeat_details, scheduled_at, visible_at,
    started)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
"""


async def import_instances(tx: Tx, dumps: list[InstanceDump]) -> list[str]:
    skipped = []
    for dump in dumps:
        if not await _import(tx, dump):
            skipped.append(dump.instance_id)
    return skipped


async def _import(tx: Tx, dump: InstanceDump) -> bool:
    conn, iid = tx.conn, dump.instance_id
    inserted = await conn.fetchval(
        _INSERT_INSTANCE,
        iid,
        dump.name,
        dump.status.value,
        dump.input,
        dump.output,
        dump_error(dump.error),
        dump.custom_status,
        dump.created_at,
        dump.updated_at,
        dump.execution_id,
        dump.version,
        dump.parent_instance_id,
        dump.parent_task_id,
        dump.parent_execution_id,
        None if dump.retry is None else dump_json(dump.retry),
        dump.attempt,
    )
    if inserted is None:
        return False
    await conn.executemany(
        "INSERT INTO history (instance_id, seq, kind, data) VALUES ($1, $2, $3, $4)",
        [(iid, e.seq, e.kind, dump_event(e)) for e in dump.history],
    )
    await conn.executemany(
        "INSERT INTO inbox (instance_id, execution_id, kind, task_id, data, visible_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        [
            (
                iid,
                m.execution_id,
                m.event.kind,
                getattr(m.event, "task_id", None),
                dump_event(m.event),
                m.visible_at,
            )
            for m in dump.inbox
        ],
    )
    await conn.executemany(
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
                a.start_deadline,
                a.heartbeat_details,
                a.scheduled_at,
                a.visible_at,
                a.started,
            )
            for a in dump.activities
        ],
    )
    tx.work = True
    tx.instances.add(iid)
    return True
