"""An entity's episode: its inbox's operations applied to its state, in order (pure).

The entity is an instance (see ``_entities``) whose row's custom status holds an envelope: the
state (an encoded payload, or None when the entity was never touched or was deleted), the lock
that holds it (``{"id", "owner", "execution"}``), the messages that wait for the lock to go, and
the ids of locks cancelled before their request arrived. ``decide`` takes the envelope and the
claimed messages and returns the new envelope and the messages to send (answers to callers,
signals, lock requests passed on): the worker commits them in one transaction, so every
operation of the episode counts exactly once, or none does.

Locks (``ctx.lock_entities``): the request visits the entities one after the other in their
global order (the sorted ids), each holding itself for the owner before passing it on, and the
last one tells the owner. Two owners can therefore never hold each other's entities while
waiting. A held entity runs only its owner's operations and the owner's unlock; the others wait
in the envelope, in arrival order, until the unlock. An owner that ends sends an unlock to each
entity of a lock it never released; one that arrives before its request is remembered so that
the request, when it comes, is passed on without holding anything.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .. import _actions as act
from .. import _events as ev
from .._entities import EntityId
from .registry import App

#: how many early unlocks an entity remembers (each waits for its lock's request)
_CANCELLED_KEPT = 256


@dataclass(slots=True)
class Envelope:
    """An entity's stored record (see the module docstring)."""

    state: str | None = None
    lock: dict[str, Any] | None = None
    queue: list[ev.HistoryEvent] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, text: str | None) -> Envelope:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(
            data.get("state"),
            data.get("lock"),
            [ev.event_from_dict(item) for item in data.get("queue", ())],
            list(data.get("cancelled", ())),
        )

    def dump(self) -> str:
        return json.dumps(
            {
                "state": self.state,
                "lock": self.lock,
                "queue": [ev.event_to_dict(message) for message in self.queue],
                "cancelled": self.cancelled,
            },
            separators=(",", ":"),
        )


def entity_state(custom_status: str | None) -> str | None:
    """The encoded state held in an entity row's custom status (None: none)."""
    return Envelope.load(custom_status).state


def entity_lock_owner(custom_status: str | None) -> str | None:
    """The instance that holds the entity locked, if any."""
    lock = Envelope.load(custom_status).lock
    return None if lock is None else str(lock["owner"])


@dataclass(slots=True)
class EntityEpisode:
    """What one episode decided: the new envelope and the messages to send."""

    custom_status: str
    actions: list[act.Action]
    #: (operation, error message) of the failed signals: no caller hears of them, so the
    #: worker logs them
    failures: list[tuple[str, str]]
    operations: int = 0


def decide(
    app: App, instance_id: str, stored: str | None, messages: Sequence[ev.HistoryEvent]
) -> EntityEpisode:
    """Apply ``messages`` (oldest first) to the entity ``instance_id`` stored as ``stored``."""
    entity_id = EntityId.parse(instance_id)
    if entity_id is None:
        raise ValueError(f"{instance_id!r} is not an entity's instance id")
    runner = _Runner(app, entity_id, Envelope.load(stored))
    runner.run(messages)
    return EntityEpisode(runner.envelope.dump(), runner.actions, runner.failures, runner.operations)


class _Runner:
    def __init__(self, app: App, entity_id: EntityId, envelope: Envelope) -> None:
        self.app = app
        self.entity = app.resolve_entity(entity_id.name)
        self.entity_id = entity_id
        self.envelope = envelope
        self.actions: list[act.Action] = []
        self.failures: list[tuple[str, str]] = []
        self.operations = 0

    def run(self, messages: Sequence[ev.HistoryEvent]) -> None:
        # the messages that waited for a lock arrived before these: they go first
        pending = deque([*self.envelope.queue, *messages])
        waiting: list[ev.HistoryEvent] = []
        while pending:
            message = pending.popleft()
            lock = self.envelope.lock
            if lock is not None and not _passes(message, lock):
                waiting.append(message)
                continue
            if isinstance(message, ev.EntityOperation):
                self._operate(message)
            elif isinstance(message, ev.EntityLockRequest):
                self._lock(message)
            elif isinstance(message, ev.EntityUnlock) and self._unlock(message):
                pending.extendleft(reversed(waiting))  # the lock went: they run now, in order
                waiting = []
        self.envelope.queue = waiting

    def _operate(self, message: ev.EntityOperation) -> None:
        self.operations += 1
        outcome = self.entity.run(
            self.app.serializer,
            self.entity_id,
            self.envelope.state,
            message.operation,
            message.arg,
        )
        if outcome.error is None:
            self.envelope.state = outcome.state
            for target, operation, arg in outcome.signals:
                signal = ev.EntityOperation(operation=operation, arg=arg)
                self.actions.append(act.SendMessage(target.instance_id, signal))
        if message.caller_id is None or message.caller_task is None:  # a signal
            if outcome.error is not None:
                self.failures.append((message.operation, outcome.error.message))
            return
        answer: ev.HistoryEvent
        if outcome.error is None:
            answer = ev.EntityResponded(task_id=message.caller_task, result=outcome.result)
        else:
            answer = ev.EntityCallFailed(task_id=message.caller_task, error=outcome.error)
        self.actions.append(act.SendMessage(message.caller_id, answer, message.caller_execution))

    def _lock(self, request: ev.EntityLockRequest) -> None:
        if request.lock_id in self.envelope.cancelled:  # its owner gave up before it came
            self.envelope.cancelled.remove(request.lock_id)
        else:
            self.envelope.lock = {
                "id": request.lock_id,
                "owner": request.owner_id,
                "execution": request.owner_execution,
            }
        following = request.position + 1
        if following < len(request.entities):
            onward = replace(request, position=following)
            self.actions.append(act.SendMessage(request.entities[following], onward))
        else:
            locked = ev.EntityLocked(task_id=request.owner_task)
            self.actions.append(act.SendMessage(request.owner_id, locked, request.owner_execution))

    def _unlock(self, message: ev.EntityUnlock) -> bool:
        """True when the entity's lock went."""
        lock = self.envelope.lock
        if lock is not None and lock["id"] == message.lock_id:
            self.envelope.lock = None
            return True
        cancelled = self.envelope.cancelled
        cancelled.append(message.lock_id)
        del cancelled[:-_CANCELLED_KEPT]
        return False


def _passes(message: ev.HistoryEvent, lock: dict[str, Any]) -> bool:
    """Whether a held entity takes ``message`` now: its owner's operations and unlock only."""
    if isinstance(message, ev.EntityOperation):
        return bool(
            message.caller_id == lock["owner"] and message.caller_execution == lock["execution"]
        )
    if isinstance(message, ev.EntityUnlock):
        return bool(message.lock_id == lock["id"])
    return not isinstance(message, ev.EntityLockRequest)
