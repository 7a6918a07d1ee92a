"""An orchestration's side of entities: its critical sections, the answers it records, and the
locks it gives back when its run ends (pure: no I/O, no clock).

``ctx.lock_entities`` returns a task whose result is a ``CriticalSection``; leaving its ``with``
block records an ``EntityUnlockSent`` effect and releases the entities. A run that ends (it
returns, fails, is cancelled, continues as new, or is terminated) with a lock it has not
released, held or still asked for, releases it in its last episode (``releases``).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .. import _actions as act
from .. import _events as ev
from .._errors import EntityFailed
from .run_state import RunState
from .task import EffectTask

if TYPE_CHECKING:
    from .context import OrchestrationContext


class CriticalSection:
    """The entities of ``ctx.lock_entities``, held for this orchestration until the ``with``
    block exits: ``with (yield ctx.lock_entities(a, b)):``. Other callers' operations on them
    wait; this orchestration's ``call_entity`` on them runs at once."""

    def __init__(self, ctx: OrchestrationContext, task_id: int, entities: tuple[str, ...]) -> None:
        self._ctx = ctx
        self.task_id = task_id
        #: the locked entities' instance ids, in the global order they were locked in
        self.entities = entities
        self.entered = False
        self.released = False

    def __enter__(self) -> CriticalSection:
        self.entered = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def release(self) -> None:
        """Release the entities now (the ``with`` block does it when it exits)."""
        if not self.released:
            self.released = True
            self._ctx._release(self)


def answer(task: EffectTask[Any], event: ev.EntityCallFailed | ev.EntityLocked) -> None:
    """Finish the call or lock ``task`` with the entity's answer ``event``."""
    if isinstance(event, ev.EntityLocked):
        task.complete(task.hint)  # a lock's task carries its CriticalSection as its hint
        return
    called = task.event
    assert isinstance(called, ev.EntityCalled)
    error = event.error
    task.fail(
        EntityFailed(
            f"@{called.entity_name}@{called.entity_key}",
            called.operation,
            error_type=error.error_type,
            message=error.message,
            traceback=error.traceback,
        )
    )


def unreleased_locks(history: Sequence[ev.HistoryEvent]) -> list[act.Action]:
    """The unlocks of the locks ``history`` asked for and did not release (for a run that ends
    without its code running: the poison guard's)."""
    asked = {e.task_id: e.entities for e in history if isinstance(e, ev.EntityLockRequested)}
    for event in history:
        if isinstance(event, ev.EntityUnlockSent):
            asked.pop(event.lock_task_id, None)
    return [act.UnlockEntities(task_id, entities) for task_id, entities in asked.items()]


def releases(run: RunState | None) -> list[act.Action]:
    """The unlocks of the locks a run that ends now has not released (each once)."""
    if run is None:
        return []
    unlocks: list[act.Action] = [
        act.UnlockEntities(task_id, section.entities)
        for task_id, section in run.locks.items()
        if not section.released
    ]
    for section in run.locks.values():
        section.released = True
    run.locks.clear()
    return unlocks
