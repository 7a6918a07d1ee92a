"""The messages an episode's entity actions send (pure: no SQL).

An orchestration's ``SignalEntity``, ``CallEntity``, ``LockEntities`` and ``UnlockEntities`` and
an entity's ``SendMessage`` become inbox messages of other instances; the caller's identity (its
instance id and run) is known only here, where the plan is made, so the messages are made here.
The target entities' rows exist already: the worker creates them before it commits.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from .. import _actions as act
from .._entities import EntityId
from .._events import EntityLockRequest, EntityOperation, EntityUnlock, HistoryEvent

#: (target instance id, message, the target's run or None for any)
Message = tuple[str, HistoryEvent, int | None]


def lock_id(instance_id: str, execution_id: int, task_id: int) -> str:
    """The identity of one lock of one run (what its entities are held by)."""
    return f"{instance_id}#{execution_id}#{task_id}"


def entity_messages(
    action: act.Action, instance_id: str, execution_id: int, now: datetime
) -> list[Message]:
    """The messages ``action``, committed by run ``execution_id`` of ``instance_id``, sends."""
    if isinstance(action, act.SignalEntity | act.CallEntity):
        target = EntityId(action.entity_name, action.entity_key).instance_id
        # a signal names its sender too (without a task: nobody waits for an answer), so that
        # the entities an orchestration holds locked take its signals as well as its calls
        operation = EntityOperation(
            timestamp=now,
            operation=action.operation,
            arg=action.arg,
            caller_id=instance_id,
            caller_execution=execution_id,
            caller_task=action.task_id if isinstance(action, act.CallEntity) else None,
        )
        return [(target, operation, None)]
    if isinstance(action, act.LockEntities):
        request = EntityLockRequest(
            timestamp=now,
            lock_id=lock_id(instance_id, execution_id, action.task_id),
            owner_id=instance_id,
            owner_execution=execution_id,
            owner_task=action.task_id,
            entities=action.entities,
        )
        return [(action.entities[0], request, None)]
    if isinstance(action, act.UnlockEntities):
        unlock = EntityUnlock(
            timestamp=now, lock_id=lock_id(instance_id, execution_id, action.lock_task_id)
        )
        return [(entity, unlock, None) for entity in action.entities]
    if isinstance(action, act.SendMessage):
        return [(action.instance_id, replace(action.event, timestamp=now), action.execution_id)]
    raise TypeError(f"not an entity action: {action!r}")
