"""Instance dumps: one instance with everything a store keeps of it, as values and as JSON.

``Store.export_instances`` returns ``InstanceDump`` values and ``Store.import_instances`` takes
them, so an export from one backend imports into another. ``to_json``/``from_json`` give the
JSON-lines shape that ``durable export``/``durable import`` write and read. Leases are not
dumped: an imported instance is free for any worker to claim. Payloads stay in their stored
(encoded) form, so a round trip is exact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .._errors import DurableError
from .._events import ErrorInfo, HistoryEvent, event_from_dict, event_to_dict
from .._status import Status

#: the ``format`` tag of a dump; a reader refuses other formats
DUMP_FORMAT = "durable.instance/1"


class BadDump(DurableError):
    """A dump that cannot be imported; the message names the instance and the field."""


@dataclass(frozen=True, slots=True)
class DumpedMessage:
    """An inbox row: a message not yet applied, and when it becomes visible."""

    event: HistoryEvent
    visible_at: datetime
    #: the run it belongs to (activity results, timers), or None for any run
    execution_id: int | None = None


@dataclass(frozen=True, slots=True)
class DumpedActivity:
    """A scheduled activity that has not finished (its attempts so far, its options)."""

    execution_id: int
    task_id: int
    name: str
    queue: str
    input: str
    attempt: int
    retry: dict[str, object] | None
    timeout: float | None
    heartbeat_timeout: float | None
    start_deadline: datetime | None
    heartbeat_details: str | None
    scheduled_at: datetime
    visible_at: datetime
    started: bool


@dataclass(frozen=True, slots=True)
class InstanceDump:
    """One instance: its row (without the lease), its history, its inbox and its activities."""

    instance_id: str
    name: str
    status: Status
    input: str
    output: str | None
    error: ErrorInfo | None
    custom_status: str | None
    created_at: datetime
    updated_at: datetime
    execution_id: int
    version: int
    parent_instance_id: str | None
    parent_task_id: int | None
    parent_execution_id: int | None
    retry: dict[str, object] | None
    attempt: int
    history: list[HistoryEvent]
    inbox: list[DumpedMessage]
    activities: list[DumpedActivity]
    #: rows that could not be read (a row durable did not write), one line each: left out of
    #: ``history``/``inbox`` and of the JSON, and reported by ``durable export``
    unreadable: tuple[str, ...] = ()
    #: the instance's tags (``client.start(tags=...)``)
    tags: Mapping[str, str] = field(default_factory=dict)


# -- JSON ---------------------------------------------------------------------------------------


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def to_json(dump: InstanceDump) -> dict[str, Any]:
    """The dump as a JSON-ready dict (times as ISO 8601 UTC, events as their dicts)."""
    return {
        "format": DUMP_FORMAT,
        "instance_id": dump.instance_id,
        "name": dump.name,
        "status": dump.status.value,
        "input": dump.input,
        "output": dump.output,
        "error": None if dump.error is None else dataclasses.asdict(dump.error),
        "custom_status": dump.custom_status,
        "created_at": _time(dump.created_at),
        "updated_at": _time(dump.updated_at),
        "execution_id": dump.execution_id,
        "version": dump.version,
        "parent_instance_id": dump.parent_instance_id,
        "parent_task_id": dump.parent_task_id,
        "parent_execution_id": dump.parent_execution_id,
        "retry": dump.retry,
        "attempt": dump.attempt,
        "tags": dict(dump.tags),
        "history": [event_to_dict(event) for event in dump.history],
        "inbox": [
            {
                "event": event_to_dict(message.event),
                "visible_at": _time(message.visible_at),
                "execution_id": message.execution_id,
            }
            for message in dump.inbox
        ],
        "activities": [
            {
                **dataclasses.asdict(activity),
                "start_deadline": _time(activity.start_deadline),
                "scheduled_at": _time(activity.scheduled_at),
                "visible_at": _time(activity.visible_at),
            }
            for activity in dump.activities
        ],
    }


class _Reader:
    """Reads fields of one JSON object, naming the instance and field in every error."""

    def __init__(self, obj: Mapping[str, Any], where: str) -> None:
        self.obj = obj
        self.where = where

    def fail(self, key: str, why: str) -> BadDump:
        return BadDump(f"{self.where}: field {key!r}: {why}")

    def get(self, key: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
        if key not in self.obj:
            if optional:
                return None
            raise self.fail(key, "missing")
        value = self.obj[key]
        if value is None and optional:
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(key, f"expected {names}, got {type(value).__name__}")
        return value

    def time(self, key: str, *, optional: bool = False) -> datetime | None:
        text = self.get(key, str, optional=optional)
        if text is None:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(key, f"not an ISO 8601 time: {text!r}") from None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    def event(self, key: str, data: object) -> HistoryEvent:
        if not isinstance(data, Mapping):
            raise self.fail(key, f"expected an event object, got {type(data).__name__}")
        try:
            return event_from_dict(dict(data))
        except (KeyError, TypeError, ValueError) as exc:
            raise self.fail(key, f"not a history event ({exc})") from None


def from_json(obj: object) -> InstanceDump:
    """A dump from its JSON form; ``BadDump`` names the instance and the field at fault."""
    if not isinstance(obj, Mapping):
        raise BadDump(f"an instance dump must be a JSON object, got {type(obj).__name__}")
    top = _Reader(obj, "instance dump")
    if obj.get("format") != DUMP_FORMAT:
        raise top.fail("format", f"expected {DUMP_FORMAT!r}, got {obj.get('format')!r}")
    instance_id = top.get("instance_id", str)
    read = _Reader(obj, f"instance {instance_id!r}")
    status_text = read.get("status", str)
    try:
        status = Status(status_text)
    except ValueError:
        raise read.fail("status", f"unknown status {status_text!r}") from None
    error = read.get("error", dict, optional=True)
    try:
        error_info = None if error is None else ErrorInfo(**error)
    except TypeError as exc:
        raise read.fail("error", str(exc)) from None
    history = [
        read.event(f"history[{i}]", data) for i, data in enumerate(read.get("history", list))
    ]
    inbox = [_message(read, i, data) for i, data in enumerate(read.get("inbox", list))]
    activities = [_activity(read, i, data) for i, data in enumerate(read.get("activities", list))]
    created_at, updated_at = read.time("created_at"), read.time("updated_at")
    assert created_at is not None and updated_at is not None
    return InstanceDump(
        instance_id=instance_id,
        name=read.get("name", str),
        status=status,
        input=read.get("input", str),
        output=read.get("output", str, optional=True),
        error=error_info,
        custom_status=read.get("custom_status", str, optional=True),
        created_at=created_at,
        updated_at=updated_at,
        execution_id=read.get("execution_id", int),
        version=read.get("version", int),
        parent_instance_id=read.get("parent_instance_id", str, optional=True),
        parent_task_id=read.get("parent_task_id", int, optional=True),
        parent_execution_id=read.get("parent_execution_id", int, optional=True),
        retry=read.get("retry", dict, optional=True),
        attempt=read.get("attempt", int),
        history=history,
        inbox=inbox,
        activities=activities,
        tags=_tags(read),
    )


def _tags(read: _Reader) -> dict[str, str]:
    tags = read.get("tags", dict, optional=True) or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise read.fail("tags", "expected an object of strings")
    return dict(tags)


def _object(parent: _Reader, key: str, data: object) -> _Reader:
    if not isinstance(data, Mapping):
        raise parent.fail(key, f"expected an object, got {type(data).__name__}")
    return _Reader(data, f"{parent.where}, {key}")


def _message(parent: _Reader, index: int, data: object) -> DumpedMessage:
    read = _object(parent, f"inbox[{index}]", data)
    visible_at = read.time("visible_at")
    assert visible_at is not None
    return DumpedMessage(
        event=read.event("event", read.get("event", dict)),
        visible_at=visible_at,
        execution_id=read.get("execution_id", int, optional=True),
    )


def _activity(parent: _Reader, index: int, data: object) -> DumpedActivity:
    read = _object(parent, f"activities[{index}]", data)
    number = (int, float)
    scheduled_at, visible_at = read.time("scheduled_at"), read.time("visible_at")
    assert scheduled_at is not None and visible_at is not None
    return DumpedActivity(
        execution_id=read.get("execution_id", int),
        task_id=read.get("task_id", int),
        name=read.get("name", str),
        queue=read.get("queue", str),
        input=read.get("input", str),
        attempt=read.get("attempt", int),
        retry=read.get("retry", dict, optional=True),
        timeout=read.get("timeout", number, optional=True),
        heartbeat_timeout=read.get("heartbeat_timeout", number, optional=True),
        start_deadline=read.time("start_deadline", optional=True),
        heartbeat_details=read.get("heartbeat_details", str, optional=True),
        scheduled_at=scheduled_at,
        visible_at=visible_at,
        started=read.get("started", bool),
    )
