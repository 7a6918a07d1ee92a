"""How people read each kind of history event and action: one wording per kind, in one place.

Two readers use them: the dashboard's graph labels an effect by its scheduled event
(``label``), and ``durable rewind --dry-run`` says what a rewind's episode records (``recorded``)
and does (``doing``). A new event or action kind gets its wording here (a test checks that every
event kind in ``_events.EVENT_TYPES`` has one). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import _actions as act
from .. import _events as ev


def _name_or_kind(event: Any) -> str:
    return str(getattr(event, "name", event.kind))


def _recorded(event: Any) -> str:
    return f"record {event.kind}"


@dataclass(frozen=True, slots=True)
class Wording:
    """How one kind of event reads."""

    #: the event as the dashboard's graph labels its effect
    label: Callable[[Any], str] = _name_or_kind
    #: the dry-run line for a rewind's episode recording it
    recorded: Callable[[Any], str] = _recorded


#: a completion a rewind records again: the success set aside by the cut (not run again)
_AGAIN = Wording(
    recorded=lambda e: f"record {e.kind} of effect #{e.task_id} again (it is not run again)"
)
_PLAIN = Wording()


def _answer(update: ev.UpdateResponded | act.RespondUpdate) -> str:
    """How an update's answer starts: a response, or a rejection."""
    return "respond to" if update.rejection is None else "reject"


def _entity_op(event: ev.EntitySignaled | ev.EntityCalled) -> str:
    return f"{event.entity_name}@{event.entity_key}.{event.operation}"


#: every event kind's wording (exact classes: a lookup, not an isinstance ladder)
EVENTS: dict[type[ev.HistoryEvent], Wording] = {
    # the run's life
    ev.ExecutionStarted: _PLAIN,
    ev.ExecutionCompleted: _PLAIN,
    ev.ExecutionFailed: _PLAIN,
    ev.ExecutionContinuedAsNew: _PLAIN,
    ev.ExecutionTerminated: _PLAIN,
    ev.ExecutionCanceled: _PLAIN,
    ev.CancelRequested: _PLAIN,
    ev.ExecutionSuspended: _PLAIN,
    ev.ExecutionResumed: _PLAIN,
    ev.ExecutionRewound: Wording(
        recorded=lambda e: f"set aside history events {e.cut}..{e.seq - 1} (the failure)"
    ),
    # effects and their completions
    ev.ActivityScheduled: _PLAIN,
    ev.ActivityCompleted: _AGAIN,
    ev.ActivityFailed: _AGAIN,
    ev.TimerCreated: Wording(
        label=lambda e: f"sleep until {e.fire_at.isoformat(timespec='seconds')}"
    ),
    ev.TimerFired: _AGAIN,
    ev.NowRecorded: Wording(label=lambda e: "now"),
    ev.EventSent: Wording(label=lambda e: f"send {e.name} to {e.instance_id}"),
    ev.EntitySignaled: Wording(label=_entity_op),
    ev.EntityCalled: Wording(label=_entity_op),
    ev.EntityResponded: _AGAIN,
    ev.EntityCallFailed: _AGAIN,
    ev.EntityLockRequested: Wording(label=lambda e: "lock " + ", ".join(e.entities)),
    ev.EntityLocked: _AGAIN,
    ev.EntityUnlockSent: Wording(label=lambda e: f"unlock (lock {e.lock_task_id})"),
    ev.SubOrchestrationScheduled: _PLAIN,
    ev.SubOrchestrationCompleted: _AGAIN,
    ev.SubOrchestrationFailed: _AGAIN,
    ev.UpdateResponded: Wording(label=lambda e: f"{_answer(e)} update {e.name}"),
    ev.StreamWritten: Wording(label=lambda e: f"write to stream {e.key}"),
    # arrivals and markers
    ev.EventRaised: Wording(recorded=lambda e: f"record event {e.name!r} again"),
    ev.UpdateRequested: _PLAIN,
    ev.PatchMarker: _PLAIN,
    # an entity's inbox (never in an orchestration's history)
    ev.EntityOperation: _PLAIN,
    ev.EntityLockRequest: _PLAIN,
    ev.EntityUnlock: _PLAIN,
}


#: every action kind's dry-run line: what a rewind's episode does
ACTIONS: dict[type[act.Action], Callable[[Any], str]] = {
    act.ScheduleActivity: lambda a: f"run activity {a.name!r} again (effect #{a.task_id})",
    act.StartTimer: lambda a: f"start timer #{a.task_id} due {a.fire_at.isoformat()}",
    act.CancelTimer: lambda a: f"cancel timer #{a.task_id}",
    act.StartChild: lambda a: f"start sub-orchestration {a.name!r} as {a.instance_id!r}",
    act.SendEvent: lambda a: f"send event {a.name!r} to {a.instance_id!r}",
    act.SignalEntity: lambda a: f"signal entity {a.entity_name}@{a.entity_key}.{a.operation}",
    act.CallEntity: lambda a: (
        f"call entity {a.entity_name}@{a.entity_key}.{a.operation} (effect #{a.task_id})"
    ),
    act.LockEntities: lambda a: f"lock {', '.join(a.entities)} (effect #{a.task_id})",
    act.UnlockEntities: lambda a: f"unlock the entities of lock #{a.lock_task_id}",
    act.SendMessage: lambda a: f"send {a.event.kind} to {a.instance_id!r}",
    act.RespondUpdate: lambda a: f"{_answer(a)} update {a.update_id!r}",
    act.WriteStream: lambda a: f"write to stream {a.key!r}",
    act.Complete: lambda a: f"complete with {a.output}",
    act.Fail: lambda a: f"fail again: {a.error.error_type}: {a.error.message}",
    act.ContinueAsNew: lambda a: f"continue as new with {a.input}",
    act.MarkCanceled: lambda a: "end canceled" + (f": {a.reason}" if a.reason else ""),
}


def label(event: ev.HistoryEvent) -> str:
    """The event as the dashboard's graph labels its effect."""
    return EVENTS.get(type(event), _PLAIN).label(event)


def recorded(event: ev.HistoryEvent) -> str:
    """The ``durable rewind --dry-run`` line for a rewind's episode recording ``event``."""
    return EVENTS.get(type(event), _PLAIN).recorded(event)


def doing(action: act.Action) -> str:
    """The ``durable rewind --dry-run`` line for a rewind's episode doing ``action``."""
    words = ACTIONS.get(type(action))
    return words(action) if words is not None else type(action).__name__
