"""What ``handle.rewind()`` asks the store for, and what ``durable rewind --dry-run`` shows.

A rewind takes the instance and, recursively, the failed sub-orchestrations its rewind retries
back to RUNNING in one store transaction (``Store.rewind_instances``), each with an
``ExecutionRewound`` message; the interpreter does the rest in the episode that takes it (see
``_core.rewind``). A child the parent waits for again that has ended otherwise meanwhile
(completed after the parent failed, terminated, purged) has its outcome sent to the parent with
the rewind, since the message it sent then was dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from .. import _events as ev
from .._core import rewind, wording
from .._core.registry import App
from .._errors import DurableError, InstanceNotFound
from .._status import Status
from ..stores.base import Store
from ..stores.control import Rewind


async def plan(store: Store, instance_id: str, reason: str | None) -> list[Rewind]:
    """The instances a rewind of ``instance_id`` takes back (it first), with their messages."""
    record = await store.get_instance(instance_id)
    if record is None:
        raise InstanceNotFound(instance_id)
    if record.status is not Status.FAILED:
        raise DurableError(
            f"instance {instance_id!r} is {record.status}: only a FAILED instance can be rewound"
        )
    rewinds: list[Rewind] = []
    await _visit(store, instance_id, reason, rewinds, set())
    return rewinds


async def _visit(
    store: Store, instance_id: str, reason: str | None, out: list[Rewind], seen: set[str]
) -> None:
    seen.add(instance_id)
    history = await store.get_history(instance_id)
    aside = rewind.set_aside(history, rewind.cut_of(instance_id, history))
    messages: list[ev.HistoryEvent] = [ev.ExecutionRewound(reason=reason)]
    at = len(out)
    out.append(Rewind(instance_id, ()))
    for task_id, child_id in aside.open_children.items():
        child = await store.get_instance(child_id)
        if child is None:
            error = ev.ErrorInfo(
                "durable.InstanceNotFound", f"sub-orchestration {child_id!r} is gone"
            )
            messages.append(ev.SubOrchestrationFailed(task_id=task_id, error=error))
        elif child.status is Status.FAILED and child_id not in seen:
            await _visit(store, child_id, reason, out, seen)  # its end reaches the parent
        elif child.status is Status.COMPLETED:
            result = child.output if child.output is not None else "null"
            messages.append(ev.SubOrchestrationCompleted(task_id=task_id, result=result))
        elif child.status.is_terminal:
            error = child.error or ev.ErrorInfo("durable.Terminated", f"{child_id!r} ended")
            messages.append(ev.SubOrchestrationFailed(task_id=task_id, error=error))
    out[at] = Rewind(instance_id, tuple(messages))


@dataclass(frozen=True, slots=True)
class RewindPreview:
    """What a rewind would do (``InstanceHandle.preview_rewind``), changing nothing.

    ``steps``: one line per thing the instance's rewind episode would do, in order;
    ``children``: the failed sub-orchestrations rewound with it; ``status``: the instance's
    status after that episode (FAILED again when the code fails at once).
    """

    instance_id: str
    steps: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    status: Status = Status.RUNNING


async def preview(app: App, store: Store, instance_id: str) -> RewindPreview:
    """Replay the instance (and each failed child rewound with it) against ``app``'s code and
    decide its rewind episode, writing nothing; ``NonDeterminismError`` when the code no
    longer fits a history."""
    rewinds = await plan(store, instance_id, None)
    now = datetime.now(UTC)
    steps: list[str] = []
    status = Status.RUNNING
    for index, planned in enumerate(rewinds):
        history = await store.get_history(planned.instance_id)
        orchestration, episode = rewind.rewind_episode(
            app, planned.instance_id, history, planned.messages, now
        )
        orchestration.close()
        status = episode.status if index == 0 else status
        events = [e for e in episode.events if not isinstance(e, ev.ScheduledEvent)]
        lines = [wording.recorded(e) for e in events]
        lines += [wording.doing(action) for action in episode.actions]
        if index:
            steps.append(f"rewind sub-orchestration {planned.instance_id!r}:")
            lines = [f"  {line}" for line in lines]
        steps += lines
    children = [planned.instance_id for planned in rewinds[1:]]
    return RewindPreview(instance_id, steps, children, status)
