"""History events: what happened to an orchestration instance, in order, append-only.

Every event has ``seq`` (its position in the instance's history, contiguous from 0), ``timestamp``
(the episode time at which it was recorded) and ``kind`` (its class name). Events that an effect
produces carry the effect's ``task_id``: the effect's sequence number in yield order, which replay
matches against the code.

Payloads (inputs, results, event payloads) are kept encoded (JSON text, see ``_serde``): the history
is exactly what the store holds, and decoding happens at the receiver with its type hints.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

# the bases and the entities' events live in modules of their own; imported from here as ever
from ._entity_events import EntityCalled as EntityCalled
from ._entity_events import EntityCallFailed as EntityCallFailed
from ._entity_events import EntityLocked as EntityLocked
from ._entity_events import EntityLockRequest as EntityLockRequest
from ._entity_events import EntityLockRequested as EntityLockRequested
from ._entity_events import EntityOperation as EntityOperation
from ._entity_events import EntityResponded as EntityResponded
from ._entity_events import EntitySignaled as EntitySignaled
from ._entity_events import EntityUnlock as EntityUnlock
from ._entity_events import EntityUnlockSent as EntityUnlockSent
from ._event_base import EPOCH as EPOCH
from ._event_base import CompletionEvent as CompletionEvent
from ._event_base import ErrorInfo as ErrorInfo
from ._event_base import HistoryEvent as HistoryEvent
from ._event_base import ScheduledEvent as ScheduledEvent

# -- the instance's life -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionStarted(HistoryEvent):
    """The run began with this input (an encoded call payload)."""

    name: str
    input: str
    parent_instance_id: str | None = None
    parent_task_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionCompleted(HistoryEvent):
    """The orchestrator returned ``output``."""

    output: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionFailed(HistoryEvent):
    """An exception escaped the orchestrator."""

    error: ErrorInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionContinuedAsNew(HistoryEvent):
    """The run ended with ``continue_as_new``; the next run starts from ``input``."""

    input: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionTerminated(HistoryEvent):
    """The instance was terminated; no orchestrator code ran for it."""

    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionCanceled(HistoryEvent):
    """``Cancelled`` propagated out of the orchestrator."""

    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelRequested(HistoryEvent):
    """A client asked for cooperative cancellation; ``Cancelled`` is thrown in at the yield."""

    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionSuspended(HistoryEvent):
    """The instance was suspended; it runs nothing until resumed."""

    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionResumed(HistoryEvent):
    """The instance was resumed after a suspension."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionRewound(HistoryEvent):
    """A FAILED run was taken back to before its failure (``handle.rewind()``).

    The events from seq ``cut`` up to this one are set aside: replay skips them (they stay in
    the history, which is append-only). The successful completions and raised events among them
    are recorded again right after this event; the failed effects run again.
    """

    cut: int = -1
    reason: str | None = None


# -- effects --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityScheduled(ScheduledEvent):
    """``ctx.call_activity(name, ...)`` with encoded arguments ``input``."""

    name: str
    input: str
    label_field: ClassVar[str | None] = "name"


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityCompleted(CompletionEvent):
    """The activity returned ``result``."""

    result: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityFailed(CompletionEvent):
    """The activity failed after ``attempts`` attempts and the retry policy gave up."""

    error: ErrorInfo
    attempts: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerCreated(ScheduledEvent):
    """A durable timer due at ``fire_at`` (``ctx.sleep`` or a ``timeout=``)."""

    fire_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerFired(CompletionEvent):
    """The timer is due."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NowRecorded(ScheduledEvent):
    """``ctx.now()`` returned ``value``; replay returns the same value."""

    value: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSent(ScheduledEvent):
    """``ctx.send_event(instance_id, name, payload)``."""

    instance_id: str
    name: str
    payload: str
    label_field: ClassVar[str | None] = "name"


@dataclass(frozen=True, slots=True, kw_only=True)
class SubOrchestrationScheduled(ScheduledEvent):
    """``ctx.call_sub_orchestrator(name, ...)`` started child ``instance_id``."""

    name: str
    instance_id: str
    input: str
    label_field: ClassVar[str | None] = "name"


@dataclass(frozen=True, slots=True, kw_only=True)
class SubOrchestrationCompleted(CompletionEvent):
    """The child returned ``result``."""

    result: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SubOrchestrationFailed(CompletionEvent):
    """The child ended FAILED (or TERMINATED/CANCELED, recorded as a failure of the call)."""

    error: ErrorInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRaised(HistoryEvent):
    """An external event arrived (delivered FIFO per name; buffered until waited for)."""

    name: str
    payload: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateRequested(HistoryEvent):
    """A client's update ``name`` with encoded ``arg`` arrived (buffered until waited for, like
    an event); ``update_id`` is where its answer goes."""

    update_id: str
    name: str
    arg: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateResponded(ScheduledEvent):
    """``ctx.respond(req, value)`` (``result``) or ``ctx.reject(req, message)`` (``rejection``)."""

    update_id: str
    name: str
    result: str | None = None
    rejection: str | None = None
    label_field: ClassVar[str | None] = "name"


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamWritten(ScheduledEvent):
    """``ctx.write_stream(key, value)``: ``payload`` (the value, encoded) appended to the stream
    ``key``."""

    key: str
    payload: str
    label_field: ClassVar[str | None] = "key"


@dataclass(frozen=True, slots=True, kw_only=True)
class PatchMarker(HistoryEvent):
    """``ctx.patched(change_id)`` returned True on a new path; not an effect (takes no task id)."""

    change_id: str


# Events that end a run: exactly one of them closes every history.
TERMINAL_KINDS = frozenset(
    {
        "ExecutionCompleted",
        "ExecutionFailed",
        "ExecutionContinuedAsNew",
        "ExecutionTerminated",
        "ExecutionCanceled",
    }
)

#: every kind of event by its name
EVENT_TYPES: dict[str, type[HistoryEvent]] = {
    cls.__name__: cls
    for cls in (
        ExecutionStarted, ExecutionCompleted, ExecutionFailed, ExecutionContinuedAsNew,
        ExecutionTerminated, ExecutionCanceled, CancelRequested, ExecutionSuspended,
        ExecutionResumed, ExecutionRewound,
        ActivityScheduled, ActivityCompleted, ActivityFailed,
        TimerCreated, TimerFired, NowRecorded, EventSent,
        EntitySignaled, EntityCalled, EntityResponded, EntityCallFailed, EntityLockRequested,
        EntityLocked, EntityUnlockSent, EntityOperation, EntityLockRequest, EntityUnlock,
        SubOrchestrationScheduled, SubOrchestrationCompleted, SubOrchestrationFailed,
        EventRaised, UpdateRequested, UpdateResponded, StreamWritten, PatchMarker,
    )
}  # fmt: skip


def event_to_dict(event: HistoryEvent) -> dict[str, Any]:
    """A JSON-ready dict of the event (``kind`` first; datetimes as ISO 8601 text)."""
    out: dict[str, Any] = {"kind": event.kind}
    for name in _field_names(type(event)):
        value = getattr(event, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, ErrorInfo):
            value = dataclasses.asdict(value)
        out[name] = value
    return out


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type[HistoryEvent]) -> tuple[str, ...]:
    """The fields of an event class, in order (read once per class: one event is dumped per
    history append)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(field.name for field in dataclasses.fields(cls))
    return names


def event_from_dict(data: dict[str, Any]) -> HistoryEvent:
    """The inverse of :func:`event_to_dict`; an unknown kind raises ``ValueError`` naming it."""
    fields = dict(data)
    kind = fields.pop("kind", None)
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown history event kind {kind!r}")
    for field in dataclasses.fields(cls):
        value = fields.get(field.name)
        if value is None:
            continue
        if field.name in ("timestamp", "fire_at", "value"):
            fields[field.name] = datetime.fromisoformat(value)
        elif field.name == "error":
            fields[field.name] = ErrorInfo(**value)
        elif field.name == "entities":
            fields[field.name] = tuple(value)
    return cls(**fields)
