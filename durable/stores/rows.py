"""Rows to values and back, for every backend: payload JSON, instance and activity rows, dumps.

A row is anything indexable by column name (``sqlite3.Row``, ``asyncpg.Record``). Backends
differ only in how they keep time (SQLite: unix seconds; PostgreSQL: ``timestamptz``), so each
function that reads or writes a time takes the backend's converter.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from json.encoder import encode_basestring as _quoted  # what the encoder uses (no ASCII escapes)
from typing import Any, Protocol

from .._errors import HistoryCorrupted
from .._events import ErrorInfo, HistoryEvent, event_from_dict, event_to_dict
from .._status import Status
from .base import ActivityWorkItem, InstanceRecord
from .dumps import DumpedActivity, DumpedMessage, InstanceDump


class Row(Protocol):
    """A row read by column name (``sqlite3.Row``, ``asyncpg.Record``)."""

    def __getitem__(self, key: str, /) -> Any: ...


#: a backend's time value (unix seconds, a datetime) as an aware datetime
ToTime = Callable[[Any], datetime]
#: an aware datetime as the backend's time value
FromTime = Callable[[datetime], Any]


def as_is(moment: datetime) -> datetime:
    """The time converter of a backend that keeps aware datetimes (PostgreSQL's timestamptz)."""
    return moment


#: one encoder for every row (``json.dumps`` with options builds a new one per call)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dump_json(value: object) -> str:
    return _ENCODER.encode(value)


def dump_event(event: HistoryEvent) -> str:
    """The event's row: ``dump_json(event_to_dict(event))``, character for character.

    Written here field by field (two per step of every orchestration: a third of the cost of
    a commit's Python went to the dict and the encoder's set-up) for the value types events
    hold; any other value (an ``ErrorInfo``, a tuple, a float) takes the general path.
    """
    keys = _EVENT_KEYS.get(type(event))
    if keys is None:
        keys = _event_keys(type(event))
    parts = [keys[0]]
    for key, name in keys[1]:
        value = getattr(event, name)
        kind = type(value)
        if kind is str:
            parts += (key, _quoted(value))
        elif kind is int:
            parts += (key, int.__repr__(value))
        elif value is None:
            parts += (key, "null")
        elif kind is datetime:  # isoformat() holds nothing JSON would escape
            parts += (key, '"', value.isoformat(), '"')
        else:
            return dump_json(event_to_dict(event))
    parts.append("}")
    return "".join(parts)


#: per event class: the text up to its kind, and each field's ``,"name":`` with its name
_EVENT_KEYS: dict[type, tuple[str, tuple[tuple[str, str], ...]]] = {}


def _event_keys(cls: type[HistoryEvent]) -> tuple[str, tuple[tuple[str, str], ...]]:
    head = '{"kind":' + _quoted(cls.__name__)
    fields = tuple(("," + _quoted(f.name) + ":", f.name) for f in dataclasses.fields(cls))
    _EVENT_KEYS[cls] = keys = (head, fields)
    return keys


def load_event(data: str) -> HistoryEvent:
    return event_from_dict(json.loads(data))


#: what decoding a row that durable did not write raises: text that is not JSON, a BLOB, JSON
#: without ``kind`` or with an unknown field, a value nested too deep (``RecursionError``)
UNREADABLE = (ValueError, TypeError, KeyError, AttributeError, RecursionError)


def why_unreadable(exc: BaseException) -> str:
    """One line on why a row could not be read (a ``RecursionError``'s message is long)."""
    if isinstance(exc, RecursionError):
        return "nested too deep"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def load_history(instance_id: str, rows: Iterable[tuple[int, Any]]) -> list[HistoryEvent]:
    """The events of ``(seq, data)`` rows; an unreadable one raises ``HistoryCorrupted`` naming
    the instance and the seq (the worker holds that instance alone). The row's seq (the key)
    must be the event's own: a row moved to another seq would otherwise read as contiguous,
    and the next commit would write around the gap."""
    events = []
    for seq, data in rows:
        try:
            event = load_event(data)
        except UNREADABLE as exc:
            problem = f"unreadable history row ({why_unreadable(exc)})"
            raise HistoryCorrupted(instance_id, seq, problem) from None
        if event.seq != seq:
            problem = f"the row at seq {seq} holds the event of seq {event.seq}"
            raise HistoryCorrupted(instance_id, seq, problem)
        events.append(event)
    return events


def load_messages(
    instance_id: str, rows: Iterable[tuple[int, Any]]
) -> tuple[list[tuple[int, HistoryEvent]], str | None]:
    """The events of ``(id, data)`` inbox rows, and why the first unreadable one could not be
    read (None when all could): the claim leases the instance and the worker holds it."""
    read: list[tuple[int, HistoryEvent]] = []
    problem = None
    for id_, data in rows:
        try:
            read.append((id_, load_event(data)))
        except UNREADABLE as exc:
            if problem is None:
                problem = (
                    f"corrupt inbox of instance {instance_id!r}: message {id_} is unreadable "
                    f"({why_unreadable(exc)})"
                )
    return read, problem


def dump_error(error: ErrorInfo | None) -> str | None:
    return None if error is None else dump_json(dataclasses.asdict(error))


def load_error(data: str | None) -> ErrorInfo | None:
    return None if data is None else ErrorInfo(**json.loads(data))


def load_json(data: str | None) -> dict[str, object] | None:
    if data is None:
        return None
    value: dict[str, object] = json.loads(data)
    return value


def dump_retry(retry: dict[str, object] | None) -> str | None:
    return None if retry is None else dump_json(retry)


def instance_record(row: Row, time: ToTime) -> InstanceRecord:
    return InstanceRecord(
        instance_id=row["instance_id"],
        name=row["name"],
        status=Status(row["status"]),
        input=row["input"],
        output=row["output"],
        error=load_error(row["error"]),
        custom_status=row["custom_status"],
        created_at=time(row["created_at"]),
        updated_at=time(row["updated_at"]),
        execution_id=row["execution_id"],
        version=row["version"],
        parent_instance_id=row["parent_instance_id"],
        parent_task_id=row["parent_task_id"],
        tags=tags_of(row),
    )


def tags_of(row: Row) -> dict[str, str]:
    """An instance row's tags (its ``tags`` JSON column; none when the query left it out)."""
    try:
        data = row["tags"]
    except (KeyError, IndexError):
        return {}
    if not data:
        return {}
    tags: dict[str, str] = json.loads(data)
    return tags


def activity_item(row: Row, worker_id: str, time: ToTime) -> ActivityWorkItem:
    return ActivityWorkItem(
        id=row["id"],
        instance_id=row["instance_id"],
        execution_id=row["execution_id"],
        task_id=row["task_id"],
        name=row["name"],
        input=row["input"],
        queue=row["queue"],
        attempt=row["attempt"],
        retry=load_json(row["retry"]),
        timeout=row["timeout"],
        heartbeat_timeout=row["heartbeat_timeout"],
        heartbeat_details=row["heartbeat_details"],
        scheduled_at=time(row["scheduled_at"]),
        worker_id=worker_id,
    )


# -- dumps ---------------------------------------------------------------------------------------


def instance_dump(
    row: Row,
    history: Sequence[Row],
    inbox: Sequence[Row],
    activities: Sequence[Row],
    time: ToTime,
) -> InstanceDump:
    """A dump from an instance row and its history (``data``), inbox (``data``, ``visible_at``,
    ``execution_id``) and activity rows, each in order."""
    record = instance_record(row, time)
    fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    unreadable: list[str] = []
    events = _readable(history, "history row at seq", "seq", unreadable)
    messages = _readable(inbox, "inbox message", "id", unreadable)
    return InstanceDump(
        **fields,
        parent_execution_id=row["parent_execution_id"],
        retry=load_json(row["retry"]),
        attempt=row["attempt"],
        history=[event for event, _ in events],
        inbox=[
            DumpedMessage(event, time(r["visible_at"]), r["execution_id"]) for event, r in messages
        ],
        activities=[_dumped_activity(r, time) for r in activities],
        unreadable=tuple(unreadable),
    )


def _readable(
    found: Sequence[Row], what: str, key: str, unreadable: list[str]
) -> list[tuple[HistoryEvent, Row]]:
    """The events of the rows that can be read; a line in ``unreadable`` for each other."""
    read = []
    for row in found:
        try:
            read.append((load_event(row["data"]), row))
        except UNREADABLE as exc:
            unreadable.append(f"{what} {row[key]}: {why_unreadable(exc)}")
    return read


def _dumped_activity(row: Row, time: ToTime) -> DumpedActivity:
    # a leased row's visible_at is its lease expiry; dumped without the lease it is due now
    visible_at = row["scheduled_at"] if row["lease_owner"] is not None else row["visible_at"]
    deadline = row["start_deadline"]
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
        start_deadline=None if deadline is None else time(deadline),
        heartbeat_details=row["heartbeat_details"],
        scheduled_at=time(row["scheduled_at"]),
        visible_at=time(visible_at),
        started=bool(row["started"]),
    )


#: the instances columns an import writes, in the order of ``instance_values``
INSTANCE_COLUMNS = (
    "instance_id, name, status, input, output, error, custom_status, created_at, updated_at, "
    "execution_id, version, parent_instance_id, parent_task_id, parent_execution_id, retry, "
    "attempt"
)
#: the inbox columns an import writes, in the order of ``message_values``
MESSAGE_COLUMNS = "instance_id, execution_id, kind, task_id, data, visible_at"
#: the activities columns an import writes, in the order of ``activity_values``
ACTIVITY_COLUMNS = (
    "instance_id, execution_id, task_id, name, queue, input, attempt, retry, timeout, "
    "heartbeat_timeout, start_deadline, heartbeat_details, scheduled_at, visible_at, started"
)


def instance_values(dump: InstanceDump, time: FromTime) -> tuple[Any, ...]:
    return (
        dump.instance_id,
        dump.name,
        dump.status.value,
        dump.input,
        dump.output,
        dump_error(dump.error),
        dump.custom_status,
        time(dump.created_at),
        time(dump.updated_at),
        dump.execution_id,
        dump.version,
        dump.parent_instance_id,
        dump.parent_task_id,
        dump.parent_execution_id,
        dump_retry(dump.retry),
        dump.attempt,
    )


def message_values(dump: InstanceDump, time: FromTime) -> list[tuple[Any, ...]]:
    return [
        (
            dump.instance_id,
            m.execution_id,
            m.event.kind,
            getattr(m.event, "task_id", None),
            dump_event(m.event),
            time(m.visible_at),
        )
        for m in dump.inbox
    ]


def activity_values(
    dump: InstanceDump, time: FromTime, flag: Callable[[bool], Any] = bool
) -> list[tuple[Any, ...]]:
    return [
        (
            dump.instance_id,
            a.execution_id,
            a.task_id,
            a.name,
            a.queue,
            a.input,
            a.attempt,
            dump_retry(a.retry),
            a.timeout,
            a.heartbeat_timeout,
            None if a.start_deadline is None else time(a.start_deadline),
            a.heartbeat_details,
            time(a.scheduled_at),
            time(a.visible_at),
            flag(a.started),
        )
        for a in dump.activities
    ]


def history_values(dump: InstanceDump) -> list[tuple[Any, ...]]:
    return [(dump.instance_id, e.seq, e.kind, dump_event(e)) for e in dump.history]
