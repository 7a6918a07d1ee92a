"""The memory store's work: claiming instances and activity attempts, and what attempts record.

The rules are SQLite's (``stores.sqlite.claims`` and ``stores.sqlite.activities``): an instance
is claimable when it has a visible message, its lease is free or expired, its ``ready_at`` has
passed, it has not finished and the worker runs its name (a SUSPENDED one only for a control
message); an activity row when it is visible on a queue and with a name the worker serves.
"""

from __future__ import annotations

from ..._actions import ScheduleActivity
from ..._events import ActivityCompleted, ActivityFailed, ErrorInfo
from ..._status import Status
from ..base import ActivityWorkItem, ClaimSpec, Message, OrchestrationWorkItem
from ..rules import CONTROL_KINDS, activity_timeout_error, storable_retry
from .tables import ActivityRow, InstanceRow, Tables, Tx, to_datetime


def claim_orchestration(db: Tables, tx: Tx, spec: ClaimSpec) -> OrchestrationWorkItem | None:
    """Lease the instance whose visible message waited longest, among those ``spec`` runs."""
    claimed = claim_orchestrations(db, tx, spec, 1)
    return claimed[0] if claimed else None


def claim_orchestrations(
    db: Tables, tx: Tx, spec: ClaimSpec, limit: int
) -> list[OrchestrationWorkItem]:
    """Lease up to ``limit`` instances, those whose visible message waited longest first."""
    candidates = []
    for instance_id, inbox in db.inbox.items():
        due = min((m.visible_at for m in inbox.values() if m.visible_at <= tx.now), default=None)
        if due is not None:
            candidates.append((due, instance_id))
    claimed: list[OrchestrationWorkItem] = []
    for _, instance_id in sorted(candidates):
        item = claim_instance(db, tx, instance_id, spec)
        if item is not None:
            claimed.append(item)
            if len(claimed) >= limit:
                break
    return claimed


def claim_instance(
    db: Tables, tx: Tx, instance_id: str, spec: ClaimSpec
) -> OrchestrationWorkItem | None:
    """Lease this instance to ``spec`` if it is claimable now, with its visible messages."""
    row = db.instances.get(instance_id)
    if row is None or not claimable(row, spec, tx.now):
        return None
    messages = visible_messages(db, row, tx.now)
    if not messages:
        return None
    if row.status is Status.SUSPENDED and not any(m.event.kind in CONTROL_KINDS for m in messages):
        return None
    row.lease_owner, row.lease_expires_at = spec.worker_id, tx.now + spec.lease_seconds
    row.claims += 1
    return OrchestrationWorkItem(
        instance_id=instance_id,
        name=row.name,
        execution_id=row.execution_id,
        version=row.version,
        status=row.status,
        messages=messages,
        now=to_datetime(tx.now),
        parent_instance_id=row.parent_instance_id,
        parent_task_id=row.parent_task_id,
        retry=None if row.retry is None else dict(row.retry),
        attempt=row.attempt,
        claims=row.claims,
    )


def claimable(row: InstanceRow, spec: ClaimSpec, now: float) -> bool:
    return (
        row.lease_free(now)
        and row.ready_at <= now
        and row.name in spec.orchestrators
        and not row.status.is_terminal
    )


def visible_messages(db: Tables, row: InstanceRow, now: float) -> list[Message]:
    """The instance's visible messages in due order; results of an older run are deleted (a
    child that ended after its parent continued as new)."""
    inbox = db.inbox[row.instance_id]
    visible = sorted(
        (m for m in inbox.values() if m.visible_at <= now), key=lambda m: (m.visible_at, m.id)
    )
    messages = []
    for m in visible:
        if m.execution_id is not None and m.execution_id < row.execution_id:
            del inbox[m.id]
        else:
            messages.append(Message(m.id, m.event))
    # the run's start opens it, even if a clock step put another message's time before it
    messages.sort(key=lambda message: message.event.kind != "ExecutionStarted")
    return messages


def release_orchestration(
    db: Tables, tx: Tx, instance_id: str, worker_id: str, retry_in: float, error: ErrorInfo | None
) -> None:
    row = db.instances.get(instance_id)
    if row is None or row.lease_owner != worker_id:
        return
    # the worker came back: its claim no longer counts (the episode did not crash it)
    row.lease_owner, row.lease_expires_at, row.claims = None, 0.0, max(row.claims - 1, 0)
    row.ready_at = tx.now + max(retry_in, 0.0)
    tx.work = True
    if error is not None:
        row.error, row.updated_at = error, tx.now
        tx.instances.add(instance_id)


def renew_leases(
    db: Tables,
    tx: Tx,
    worker_id: str,
    lease_seconds: float,
    instances: list[str],
    activities: list[int],
) -> None:
    until = tx.now + lease_seconds
    for instance_id in instances:
        row = db.instances.get(instance_id)
        if row is not None and row.lease_owner == worker_id:
            row.lease_expires_at = until
    for activity_id in activities:  # a leased row's visible_at is its lease expiry
        activity = db.activities.get(activity_id)
        if activity is not None and activity.lease_owner == worker_id:
            activity.visible_at = until


# -- activities ----------------------------------------------------------------------------------


def schedule_activity(
    db: Tables,
    tx: Tx,
    instance_id: str,
    execution_id: int,
    action: ScheduleActivity,
    claim: ClaimSpec | None,
) -> ActivityWorkItem | None:
    """Insert the activity's row; with ``claim``, leased to it at once (its first attempt)."""
    options = action.options
    to_start = options.schedule_to_start_timeout
    retry = None if options.retry is None else storable_retry(options.retry)
    row = ActivityRow(
        id=db.next_id(),
        instance_id=instance_id,
        execution_id=execution_id,
        task_id=action.task_id,
        name=action.name,
        queue=options.queue,
        input=action.input,
        attempt=0 if claim is None else 1,
        retry=retry,
        timeout=options.timeout,
        heartbeat_timeout=options.heartbeat_timeout,
        start_deadline=None if to_start is None else tx.now + to_start,
        heartbeat_details=None,
        scheduled_at=tx.now,
        visible_at=tx.now if claim is None else tx.now + claim.lease_seconds,
        lease_owner=None if claim is None else claim.worker_id,
        started=claim is not None,
        priority=options.priority,
        fairness_key=options.fairness_key,
    )
    db.activities[row.id] = row
    if claim is None:
        tx.work = True
        return None
    return row.item(claim.worker_id)


def claim_activity(db: Tables, tx: Tx, spec: ClaimSpec) -> ActivityWorkItem | None:
    for row in db.activities.values():
        if row.visible_at <= tx.now and row.queue in spec.queues and row.name in spec.activities:
            row.lease_owner, row.visible_at = spec.worker_id, tx.now + spec.lease_seconds
            row.attempt += 1
            row.started = True
            return row.item(spec.worker_id)
    return None


def finish(
    db: Tables, tx: Tx, item: ActivityWorkItem, result: str
) -> tuple[str, int, ActivityCompleted] | None:
    """Delete the attempt's row if it still holds it: the instance, its run, and the event."""
    row = db.held_activity(item)
    if row is None:
        return None
    del db.activities[row.id]
    event = ActivityCompleted(timestamp=to_datetime(tx.now), task_id=row.task_id, result=result)
    return row.instance_id, row.execution_id, event


def fail_activity(
    db: Tables, tx: Tx, item: ActivityWorkItem, error: ErrorInfo, retry_in: float | None
) -> bool:
    row = db.held_activity(item)
    if row is None:
        return False
    tx.work = True
    if retry_in is not None:  # the next attempt, after the backoff; the count is kept
        row.lease_owner, row.visible_at = None, tx.now + max(retry_in, 0.0)
        return True
    del db.activities[row.id]
    event = ActivityFailed(
        timestamp=to_datetime(tx.now), task_id=row.task_id, error=error, attempts=item.attempt
    )
    db.insert_message(tx, row.instance_id, event, execution_id=row.execution_id)
    return True


def heartbeat_activity(
    db: Tables, tx: Tx, item: ActivityWorkItem, details: str | None, lease_seconds: float
) -> bool:
    row = db.held_activity(item)
    if row is None:
        return False
    row.heartbeat_details, row.visible_at = details, tx.now + lease_seconds
    return True


def expire_unstarted(db: Tables, tx: Tx) -> int:
    """Fail, with ``durable.TaskTimeout``, the activities no attempt started before the deadline."""
    expired = [
        row
        for row in db.activities.values()
        if not row.started and row.start_deadline is not None and row.start_deadline < tx.now
    ]
    for row in expired:
        del db.activities[row.id]
        assert row.start_deadline is not None
        error = activity_timeout_error(row.name, row.start_deadline - row.scheduled_at)
        event = ActivityFailed(
            timestamp=to_datetime(tx.now), task_id=row.task_id, error=error, attempts=0
        )
        db.insert_message(tx, row.instance_id, event, execution_id=row.execution_id)
    return len(expired)
