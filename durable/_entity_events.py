"""The history events of durable entities (``_events`` imports them): an orchestration's entity
effects and their completions, and the messages of an entity's own inbox (DESIGN 2a).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._event_base import CompletionEvent, ErrorInfo, HistoryEvent, ScheduledEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class EntitySignaled(ScheduledEvent):
    """``ctx.signal_entity(EntityId(entity_name, entity_key), operation, arg)``."""

    entity_name: str
    entity_key: str
    operation: str
    arg: str
    label_field: ClassVar[str | None] = "operation"


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityCalled(ScheduledEvent):
    """``ctx.call_entity(EntityId(entity_name, entity_key), operation, arg)``."""

    entity_name: str
    entity_key: str
    operation: str
    arg: str
    label_field: ClassVar[str | None] = "operation"


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityResponded(CompletionEvent):
    """The entity's operation returned ``result``."""

    result: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityCallFailed(CompletionEvent):
    """The entity's operation raised (its state is unchanged)."""

    error: ErrorInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityLockRequested(ScheduledEvent):
    """``ctx.lock_entities(...)``: the entities' instance ids, in the global order."""

    entities: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityLocked(CompletionEvent):
    """Every entity of the lock is held for this orchestration."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityUnlockSent(ScheduledEvent):
    """The critical section of the lock ``lock_task_id`` exited: its entities are released."""

    lock_task_id: int


# -- an entity's inbox (never in an orchestration's history) -----------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityOperation(HistoryEvent):
    """An operation for an entity: a signal, or a call whose caller waits for the answer."""

    operation: str
    arg: str
    caller_id: str | None = None
    caller_execution: int | None = None
    caller_task: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityLockRequest(HistoryEvent):
    """Lock ``lock_id`` asks the entity at ``position`` of ``entities`` to be held for its owner;
    once held, the request goes on to the next entity, and the last answers the owner."""

    lock_id: str
    owner_id: str
    owner_execution: int
    owner_task: int
    entities: tuple[str, ...]
    position: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityUnlock(HistoryEvent):
    """Release the lock ``lock_id`` (or cancel it, if its request has not arrived yet)."""

    lock_id: str
