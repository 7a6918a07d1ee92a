"""Actions: what an episode asks the worker to do besides appending history (imperative names).

The interpreter decides; the worker does (commits them with the episode, in one transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ._events import ErrorInfo, EventRaised, HistoryEvent, UpdateRequested

if TYPE_CHECKING:
    from ._retry import RetryPolicy


@dataclass(frozen=True, slots=True)
class ActivityOptions:
    """Per-call options of an activity (registration defaults merged with ``with_options``)."""

    queue: str = "default"
    retry: RetryPolicy | None = None
    timeout: float | None = None
    schedule_to_start_timeout: float | None = None
    heartbeat_timeout: float | None = None
    #: flow control on a declared queue (lower runs first; round-robin between keys); None:
    #: the instance's, as ``client.start`` gave it
    priority: int | None = None
    fairness_key: str | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """Base of all actions."""


@dataclass(frozen=True, slots=True)
class ScheduleActivity(Action):
    """Queue an attempt of activity ``name`` for effect ``task_id``."""

    task_id: int
    name: str
    input: str
    options: ActivityOptions


@dataclass(frozen=True, slots=True)
class StartTimer(Action):
    """Create a timer row due at ``fire_at``; when due it becomes ``TimerFired(task_id)``."""

    task_id: int
    fire_at: datetime


@dataclass(frozen=True, slots=True)
class CancelTimer(Action):
    """Remove a pending timer that nobody waits for any more (cancellation)."""

    task_id: int


@dataclass(frozen=True, slots=True)
class StartChild(Action):
    """Start sub-orchestration ``instance_id`` running ``name``; its end is reported to us."""

    task_id: int
    name: str
    instance_id: str
    input: str
    retry: RetryPolicy | None = None


@dataclass(frozen=True, slots=True)
class SendEvent(Action):
    """Deliver event ``name`` with ``payload`` to instance ``instance_id``."""

    instance_id: str
    name: str
    payload: str


@dataclass(frozen=True, slots=True)
class SignalEntity(Action):
    """Deliver operation ``operation`` with ``arg`` to entity ``(entity_name, entity_key)``."""

    entity_name: str
    entity_key: str
    operation: str
    arg: str


@dataclass(frozen=True, slots=True)
class CallEntity(Action):
    """Deliver ``operation`` to the entity; its answer goes to effect ``task_id``."""

    task_id: int
    entity_name: str
    entity_key: str
    operation: str
    arg: str


@dataclass(frozen=True, slots=True)
class LockEntities(Action):
    """Ask the entities (instance ids, in the global order) to be held for effect ``task_id``."""

    task_id: int
    entities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UnlockEntities(Action):
    """Release (or cancel) the lock of effect ``lock_task_id`` on every one of its entities."""

    lock_task_id: int
    entities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SendMessage(Action):
    """An entity's episode sends ``event`` to instance ``instance_id`` (an answer to a caller, for
    its run ``execution_id`` only; or an operation or lock request to another entity)."""

    instance_id: str
    event: HistoryEvent
    execution_id: int | None = None


@dataclass(frozen=True, slots=True)
class Complete(Action):
    """End the run COMPLETED with ``output``."""

    output: str


@dataclass(frozen=True, slots=True)
class Fail(Action):
    """End the run FAILED with ``error``."""

    error: ErrorInfo


@dataclass(frozen=True, slots=True)
class ContinueAsNew(Action):
    """End this run and start the same instance again from ``input`` with a fresh history.

    ``carryover`` holds the events (and updates) that arrived but were not consumed; they open
    the next run.
    A retried sub-orchestration also continues as new: its next run starts after ``delay``
    seconds and counts as ``attempt`` (None keeps the count).
    """

    input: str
    carryover: tuple[EventRaised | UpdateRequested, ...] = ()
    delay: float = 0.0
    attempt: int | None = None


@dataclass(frozen=True, slots=True)
class MarkCanceled(Action):
    """End the run CANCELED: ``Cancelled`` propagated out of the orchestrator."""

    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RespondUpdate(Action):
    """Store the answer to update ``update_id``: ``result`` (encoded), or ``rejection``."""

    update_id: str
    result: str | None
    rejection: str | None


@dataclass(frozen=True, slots=True)
class WriteStream(Action):
    """Append ``value`` (encoded) to the instance's stream ``key``."""

    key: str
    value: str
