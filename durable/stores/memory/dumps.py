"""The memory store's export and import of whole instances (see ``stores.dumps``).

An operation runs without awaiting, so an export batch is one consistent snapshot and an import
batch is all or nothing for the event loop, as a transaction is for the SQL backends.
"""

from __future__ import annotations

from ..dumps import DumpedActivity, DumpedMessage, InstanceDump
from .tables import ActivityRow, InstanceRow, MessageRow, Tables, Tx, to_datetime, to_ts


def export_instances(db: Tables, after: str | None, limit: int) -> list[InstanceDump]:
    ids = sorted(i for i in db.instances if after is None or i > after)
    return [_dump(db, db.instances[i]) for i in ids[: max(int(limit), 0)]]


def _dump(db: Tables, row: InstanceRow) -> InstanceDump:
    record = row.record()
    return InstanceDump(
        instance_id=row.instance_id,
        name=row.name,
        status=row.status,
        input=row.input,
        output=row.output,
        error=row.error,
        custom_status=row.custom_status,
        created_at=record.created_at,
        updated_at=record.updated_at,
        execution_id=row.execution_id,
        version=row.version,
        parent_instance_id=row.parent_instance_id,
        parent_task_id=row.parent_task_id,
        parent_execution_id=row.parent_execution_id,
        retry=None if row.retry is None else dict(row.retry),
        attempt=row.attempt,
        tags=dict(row.tags),
        history=list(db.history[row.instance_id]),
        inbox=[
            DumpedMessage(m.event, to_datetime(m.visible_at), m.execution_id)
            for m in db.inbox[row.instance_id].values()
        ],
        activities=[
            _dumped_activity(a) for a in db.activities.values() if a.instance_id == row.instance_id
        ],
    )


def _dumped_activity(row: ActivityRow) -> DumpedActivity:
    # a leased row's visible_at is its lease expiry; dumped without the lease it is due now
    visible_at = row.scheduled_at if row.lease_owner is not None else row.visible_at
    return DumpedActivity(
        execution_id=row.execution_id,
        task_id=row.task_id,
        name=row.name,
        queue=row.queue,
        input=row.input,
        attempt=row.attempt,
        retry=None if row.retry is None else dict(row.retry),
        timeout=row.timeout,
        heartbeat_timeout=row.heartbeat_timeout,
        start_deadline=None if row.start_deadline is None else to_datetime(row.start_deadline),
        heartbeat_details=row.heartbeat_details,
        scheduled_at=to_datetime(row.scheduled_at),
        visible_at=to_datetime(visible_at),
        started=row.started,
    )


def import_instances(db: Tables, tx: Tx, dumps: list[InstanceDump]) -> list[str]:
    skipped = []
    for dump in dumps:
        if dump.instance_id in db.instances:
            skipped.append(dump.instance_id)
            continue
        db.instances[dump.instance_id] = InstanceRow(
            instance_id=dump.instance_id,
            name=dump.name,
            status=dump.status,
            input=dump.input,
            created_at=to_ts(dump.created_at),
            updated_at=to_ts(dump.updated_at),
            rowid=db.next_id(),
            output=dump.output,
            error=dump.error,
            custom_status=dump.custom_status,
            execution_id=dump.execution_id,
            version=dump.version,
            parent_instance_id=dump.parent_instance_id,
            parent_task_id=dump.parent_task_id,
            parent_execution_id=dump.parent_execution_id,
            retry=None if dump.retry is None else dict(dump.retry),
            attempt=dump.attempt,
            tags=dict(dump.tags),
        )
        db.history[dump.instance_id] = list(dump.history)
        db.inbox[dump.instance_id] = {}
        for m in dump.inbox:
            message_id = db.next_id()
            db.inbox[dump.instance_id][message_id] = MessageRow(
                message_id, dump.instance_id, m.execution_id, m.event, to_ts(m.visible_at)
            )
        for a in dump.activities:
            activity = ActivityRow(
                id=db.next_id(),
                instance_id=dump.instance_id,
                execution_id=a.execution_id,
                task_id=a.task_id,
                name=a.name,
                queue=a.queue,
                input=a.input,
                attempt=a.attempt,
                retry=None if a.retry is None else dict(a.retry),
                timeout=a.timeout,
                heartbeat_timeout=a.heartbeat_timeout,
                start_deadline=None if a.start_deadline is None else to_ts(a.start_deadline),
                heartbeat_details=a.heartbeat_details,
                scheduled_at=to_ts(a.scheduled_at),
                visible_at=to_ts(a.visible_at),
                started=a.started,
            )
            db.activities[activity.id] = activity
        tx.work = True
        tx.instances.add(dump.instance_id)
    return skipped
