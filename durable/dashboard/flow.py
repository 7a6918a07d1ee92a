"""An instance's history as people read it: a timeline of its effects and the graph of its flow.

Both are pure functions of the history (no store, no I/O), so the page for a 10,000-event history
costs one pass. An effect is a scheduled event (activity, timer, sub-orchestration, sent event,
entity signal) joined to the completion that answered it; the effects one episode scheduled
share its timestamp, so consecutive ones with the same timestamp are one step of the graph: a
fan-out when there are several, joined again (a fan-in) by the step after them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import _events as ev
from .._core import wording

#: an effect's state: waiting for its result, answered, or answered with a failure
PENDING, DONE, FAILED = "pending", "done", "failed"

#: the graph draws at most this many steps (a long eternal loop is summarised past it)
MAX_STEPS = 400

_KIND_OF: dict[type[ev.HistoryEvent], str] = {
    ev.ActivityScheduled: "activity",
    ev.TimerCreated: "timer",
    ev.SubOrchestrationScheduled: "suborchestration",
    ev.EventSent: "send_event",
    ev.EntitySignaled: "signal_entity",
    ev.EntityCalled: "call_entity",
    ev.EntityLockRequested: "lock_entities",
    ev.EntityUnlockSent: "unlock_entities",
    ev.NowRecorded: "now",
    ev.UpdateResponded: "respond_update",
    ev.StreamWritten: "write_stream",
}
#: effects that are done when scheduled (nothing answers them)
_IMMEDIATE = frozenset(
    {"send_event", "signal_entity", "unlock_entities", "now", "respond_update", "write_stream"}
)


@dataclass(slots=True)
class Effect:
    """One effect the orchestrator yielded, with its outcome so far."""

    task_id: int
    kind: str
    label: str
    seq: int
    started: datetime
    state: str = PENDING
    ended: datetime | None = None
    error: ev.ErrorInfo | None = None
    attempts: int | None = None
    due: datetime | None = None
    child: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        duration = None
        if self.ended is not None:
            duration = round((self.ended - self.started).total_seconds() * 1000, 3)
        return {
            "task_id": self.task_id,
            "kind": self.kind,
            "label": self.label,
            "seq": self.seq,
            "state": self.state,
            "started": self.started.isoformat(),
            "ended": self.ended.isoformat() if self.ended else None,
            "duration_ms": duration,
            "attempts": self.attempts,
            "error": _error_json(self.error),
            "due": self.due.isoformat() if self.due else None,
            "child": self.child,
        }


def _error_json(error: ev.ErrorInfo | None) -> dict[str, str] | None:
    if error is None:
        return None
    return {"type": error.error_type, "message": error.message, "traceback": error.traceback}


def _scheduled(event: ev.ScheduledEvent) -> Effect:
    kind = _KIND_OF.get(type(event), event.kind)
    effect = Effect(event.task_id, kind, wording.label(event), event.seq, event.timestamp)
    if isinstance(event, ev.TimerCreated):
        effect.due = event.fire_at
    elif isinstance(event, ev.SubOrchestrationScheduled):
        effect.child = event.instance_id
    if kind in _IMMEDIATE:
        effect.state, effect.ended = DONE, event.timestamp
    return effect


def _complete(effect: Effect, event: ev.CompletionEvent) -> None:
    effect.ended = event.timestamp
    if isinstance(event, ev.ActivityFailed | ev.SubOrchestrationFailed | ev.EntityCallFailed):
        effect.state, effect.error = FAILED, event.error
        effect.attempts = getattr(event, "attempts", None)
    else:  # after a rewind, a failed effect may complete: its old error goes
        effect.state, effect.error = DONE, None


@dataclass(slots=True)
class Flow:
    """What the page shows of one history."""

    effects: list[Effect]
    #: the history's other events in order (start, raised events, control, the end)
    markers: list[dict[str, Any]]
    #: effects grouped into steps: a list of lists of indexes into ``effects`` (or markers)
    steps: list[dict[str, Any]]
    truncated: int = 0


def _marker(event: ev.HistoryEvent) -> dict[str, Any]:
    out: dict[str, Any] = {"seq": event.seq, "kind": event.kind, "at": event.timestamp.isoformat()}
    for name in ("name", "reason"):
        value = getattr(event, name, None)
        if value is not None:
            out[name] = value
    error = getattr(event, "error", None)
    if isinstance(error, ev.ErrorInfo):
        out["error"] = _error_json(error)
    return out


def build_flow(history: Sequence[ev.HistoryEvent]) -> Flow:
    """Join each scheduled event to its completion and group the effects into steps."""
    effects: list[Effect] = []
    by_task: dict[int, Effect] = {}
    markers: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    last_stamp: datetime | None = None
    for event in history:
        if isinstance(event, ev.ScheduledEvent):
            effect = _scheduled(event)
            by_task[event.task_id] = effect
            effects.append(effect)
            if steps and steps[-1]["type"] == "effects" and last_stamp == event.timestamp:
                steps[-1]["effects"].append(len(effects) - 1)
            else:
                steps.append({"type": "effects", "effects": [len(effects) - 1]})
            last_stamp = event.timestamp
        elif isinstance(event, ev.CompletionEvent):
            found = by_task.get(event.task_id)
            if found is not None:
                _complete(found, event)
        else:
            markers.append(_marker(event))
            steps.append({"type": "marker", "marker": len(markers) - 1})
            last_stamp = None
    truncated = max(len(steps) - MAX_STEPS, 0)
    if truncated:
        steps = steps[:MAX_STEPS]
    return Flow(effects, markers, steps, truncated)


def flow_json(
    flow: Flow, children: Callable[[str], dict[str, Any] | None] | None = None
) -> dict[str, Any]:
    """The JSON the page draws: ``children(instance_id)`` gives a sub-orchestration's own flow
    (to draw nested), or None."""
    effects = [effect.to_json() for effect in flow.effects]
    if children is not None:
        for effect in effects:
            if effect["child"]:
                effect["flow"] = children(effect["child"])
    return {
        "effects": effects,
        "markers": flow.markers,
        "steps": flow.steps,
        "truncated_steps": flow.truncated,
    }
