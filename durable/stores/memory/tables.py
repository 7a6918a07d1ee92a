"""The memory store's tables: instances, histories, inboxes and activity rows, as Python objects.

The same rows as SQLite's schema (``stores.sqlite.schema``), kept in dicts: times are unix
seconds of the store's clock, an activity row's ``visible_at`` is its lease expiry while it is
leased, an instance's ``ready_at`` is when a released instance may be claimed again. Events are
kept as the frozen values they are (no JSON round trip: payloads are strings already).

Every operation of the store runs to its end without awaiting, so it is atomic for the event
loop; each one checks everything that can refuse it before it changes anything, so a refusal
writes nothing (SQLite's rollback). ``Tx`` collects whom to wake once it is done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..._errors import InstanceNotFound
from ..._events import ErrorInfo, ExecutionStarted, HistoryEvent
from ..._schedule import ScheduleDefinition
from ..._status import Status
from ..base import ActivityWorkItem, InstanceRecord, NewInstance
from ..control import EXTERNAL_OWNER
from .outputs import Outputs


def to_datetime(ts: float) -> datetime:
    """Unix seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


def to_ts(moment: datetime) -> float:
    """An aware datetime as unix seconds; a naive one is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(slots=True)
class InstanceRow:
    instance_id: str
    name: str
    status: Status
    input: str
    created_at: float
    updated_at: float
    #: creation order (the tie-break of "newest first")
    rowid: int
    output: str | None = None
    error: ErrorInfo | None = None
    custom_status: str | None = None
    execution_id: int = 1
    version: int = 0
    parent_instance_id: str | None = None
    parent_task_id: int | None = None
    parent_execution_id: int | None = None
    retry: dict[str, object] | None = None
    attempt: int = 1
    lease_owner: str | None = None
    lease_expires_at: float = 0.0
    ready_at: float = 0.0
    #: claims since the last commit or release (``OrchestrationWorkItem.claims``)
    claims: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    priority: int | None = None
    fairness_key: str | None = None

    def record(self) -> InstanceRecord:
        return InstanceRecord(
            instance_id=self.instance_id,
            name=self.name,
            status=self.status,
            input=self.input,
            output=self.output,
            error=self.error,
            custom_status=self.custom_status,
            created_at=to_datetime(self.created_at),
            updated_at=to_datetime(self.updated_at),
            execution_id=self.execution_id,
            version=self.version,
            parent_instance_id=self.parent_instance_id,
            parent_task_id=self.parent_task_id,
            tags=dict(self.tags),
        )

    def lease_free(self, now: float) -> bool:
        return self.lease_owner is None or self.lease_expires_at <= now


@dataclass(slots=True)
class MessageRow:
    id: int
    instance_id: str
    #: the run it belongs to (activity results, timers), or None for any run
    execution_id: int | None
    event: HistoryEvent
    visible_at: float


@dataclass(slots=True)
class ActivityRow:
    id: int
    instance_id: str
    execution_id: int
    task_id: int
    name: str
    queue: str
    input: str
    attempt: int
    retry: dict[str, object] | None
    timeout: float | None
    heartbeat_timeout: float | None
    start_deadline: float | None
    heartbeat_details: str | None
    scheduled_at: float
    visible_at: float
    lease_owner: str | None = None
    started: bool = False
    priority: int | None = None
    fairness_key: str | None = None

    def item(self, worker_id: str) -> ActivityWorkItem:
        return ActivityWorkItem(
            id=self.id,
            instance_id=self.instance_id,
            execution_id=self.execution_id,
            task_id=self.task_id,
            name=self.name,
            input=self.input,
            queue=self.queue,
            attempt=self.attempt,
            retry=self.retry,
            timeout=self.timeout,
            heartbeat_timeout=self.heartbeat_timeout,
            heartbeat_details=self.heartbeat_details,
            scheduled_at=to_datetime(self.scheduled_at),
            worker_id=worker_id,
        )


def leased_here(row: ActivityRow) -> bool:
    """An attempt runs in a worker: leased, and not handed off to an external system (whose
    deadline is a due time, like a timer's; see ``stores.control``)."""
    return row.lease_owner is not None and not row.lease_owner.startswith(EXTERNAL_OWNER)


@dataclass
class Tx:
    """One operation: the store's time for all of it, and whom to wake when it is done."""

    now: float
    #: new work may be claimable (wake ``wait_for_work``)
    work: bool = False
    #: instances whose status may have changed (wake ``wait_for_instance``)
    instances: set[str] = field(default_factory=set)


class Tables:
    """The whole database of one memory store."""

    def __init__(self) -> None:
        self.instances: dict[str, InstanceRow] = {}
        self.history: dict[str, list[HistoryEvent]] = {}
        #: each instance's messages by id (ids only grow, so dict order is id order)
        self.inbox: dict[str, dict[int, MessageRow]] = {}
        self.activities: dict[int, ActivityRow] = {}
        self.outputs = Outputs()
        #: declared queues: start times in the rate window; the turn each fairness key was
        #: last served; schedules by id (``memory.flow``)
        self.queue_starts: dict[str, list[float]] = {}
        self.queue_turns: dict[str, dict[str, int]] = {}
        self.schedules: dict[str, list[Any]] = {}
        self.queue_limits: dict[str, Any] = {}
        self._ids = 0

    def next_id(self) -> int:
        """A new row id: never reused, so an id a stale worker holds never names a newer row."""
        self._ids += 1
        return self._ids

    # -- instances -----------------------------------------------------------------------------

    def insert_instance(
        self,
        tx: Tx,
        new: NewInstance,
        parent_execution_id: int | None = None,
        *,
        with_start: bool = True,
    ) -> bool:
        """Create a PENDING instance with its ``ExecutionStarted`` message; False if the id is
        taken. ``with_start=False``: without the message (its first episode commits at once)."""
        if new.instance_id in self.instances:
            return False
        self.instances[new.instance_id] = InstanceRow(
            instance_id=new.instance_id,
            name=new.name,
            status=Status.PENDING,
            input=new.input,
            created_at=tx.now,
            updated_at=tx.now,
            rowid=self.next_id(),
            parent_instance_id=new.parent_instance_id,
            parent_task_id=new.parent_task_id,
            parent_execution_id=parent_execution_id,
            retry=None if new.retry is None else dict(new.retry),
            tags=dict(new.tags),
            priority=new.priority,
            fairness_key=new.fairness_key,
        )
        self.history[new.instance_id] = []
        self.inbox[new.instance_id] = {}
        if with_start:
            started = ExecutionStarted(
                timestamp=to_datetime(tx.now),
                name=new.name,
                input=new.input,
                parent_instance_id=new.parent_instance_id,
                parent_task_id=new.parent_task_id,
            )
            at = tx.now + new.start_delay
            if new.start_at is not None:  # a delayed start
                at = max(at, to_ts(new.start_at))
            self.insert_message(tx, new.instance_id, started, execution_id=1, visible_at=at)
            tx.instances.add(new.instance_id)
        return True

    def delete_instance(self, instance_id: str) -> None:
        del self.instances[instance_id]
        del self.history[instance_id]
        del self.inbox[instance_id]
        self.delete_activities(instance_id)
        self.outputs.forget(instance_id)

    # -- messages ------------------------------------------------------------------------------

    def insert_message(
        self,
        tx: Tx,
        instance_id: str,
        event: HistoryEvent,
        *,
        execution_id: int | None = None,
        visible_at: float | None = None,
    ) -> int:
        """Append ``event`` to the inbox (visible now unless ``visible_at``); its id."""
        message_id = self.next_id()
        at = tx.now if visible_at is None else visible_at
        row = MessageRow(message_id, instance_id, execution_id, event, at)
        self.inbox[instance_id][message_id] = row
        tx.work = True
        return message_id

    def deliver(
        self, tx: Tx, instance_id: str, event: HistoryEvent, execution_id: int | None = None
    ) -> bool:
        """Append a message to a live instance; False (nothing written) if missing or ended."""
        row = self.instances.get(instance_id)
        if row is None or row.status.is_terminal:
            return False
        self.insert_message(tx, instance_id, event, execution_id=execution_id)
        return True

    def send_message(self, tx: Tx, instance_id: str, event: HistoryEvent) -> None:
        row = self.instances.get(instance_id)
        if row is None:
            raise InstanceNotFound(instance_id)
        if not row.status.is_terminal:
            self.insert_message(tx, instance_id, event)

    def has_visible_messages(self, instance_id: str, now: float) -> bool:
        return any(m.visible_at <= now for m in self.inbox.get(instance_id, {}).values())

    def delete_messages(self, instance_id: str, ids: list[int]) -> None:
        inbox = self.inbox[instance_id]
        for message_id in ids:
            inbox.pop(message_id, None)

    # -- activities ----------------------------------------------------------------------------

    def delete_activities(self, instance_id: str) -> None:
        for row in [a for a in self.activities.values() if a.instance_id == instance_id]:
            del self.activities[row.id]

    def held_activity(self, item: ActivityWorkItem) -> ActivityRow | None:
        """The attempt's row if ``item`` still holds it (same attempt and lease owner)."""
        row = self.activities.get(item.id)
        if row is None or row.lease_owner != item.worker_id or row.attempt != item.attempt:
            return None
        return row

    # -- due times -----------------------------------------------------------------------------

    def next_due(self, now: float) -> float | None:
        """The earliest future time at which a message, an activity or an instance falls due."""
        times = [m.visible_at for inbox in self.inbox.values() for m in inbox.values()]
        times += [a.visible_at for a in self.activities.values() if not leased_here(a)]
        times += [i.ready_at for i in self.instances.values()]
        future = [t for t in times if t > now]
        return min(future, default=None)

    def schedule_slots(self) -> list[float]:
        """The next slot of each active schedule (a virtual clock stops at each, so that a
        worker starts it on time)."""
        slots = []
        for definition, paused, last_slot in self.schedules.values():
            if not paused:
                upcoming = ScheduleDefinition.from_json(definition).next_slots(last_slot, 1)
                slots.append(upcoming[0].timestamp())
        return slots
