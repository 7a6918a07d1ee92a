"""Replay checks: where a stored history and the orchestrator's code disagree, and who is to blame.

``HistoryCorrupted`` says the history cannot be one durable wrote, whatever the code (a gap in
the seqs, an unknown event, a completion for no waiting effect). ``NonDeterminismError`` says
the code now yields other effects than the history recorded; it names the effect, the seq and
the file:line of the code. The interpreter decides when to check; the messages are built here.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from .. import _events as ev
from .._errors import HistoryCorrupted, NonDeterminismError
from .frames import suspended_location
from .run_state import RunState
from .task import EffectTask

# -- a corrupt history ---------------------------------------------------------------------------


def seq_gap(instance_id: str, event: ev.HistoryEvent, expected: int) -> HistoryCorrupted:
    """The history skips or repeats a seq: ``event`` should have had ``expected``."""
    return HistoryCorrupted(instance_id, event.seq, f"expected seq {expected}, found {event.seq}")


def unknown_event(instance_id: str, event: ev.HistoryEvent) -> HistoryCorrupted:
    """The history holds an event of a type the interpreter has no handler for."""
    return HistoryCorrupted(instance_id, event.seq, f"unknown event {event.kind}")


def before_start(instance_id: str, event: ev.HistoryEvent) -> HistoryCorrupted:
    """The history holds ``event`` before the run's ``ExecutionStarted``."""
    return HistoryCorrupted(instance_id, event.seq, f"{event.kind} before ExecutionStarted")


def nothing_waiting(instance_id: str, event: ev.CompletionEvent) -> HistoryCorrupted:
    """The history completes an effect that is not waiting for a result."""
    return HistoryCorrupted(
        instance_id,
        event.seq,
        f"{event.kind} for effect #{event.task_id}, which is not waiting for a result",
    )


# -- non-determinism -----------------------------------------------------------------------------


def matching_effect(
    run: RunState, event: ev.ScheduledEvent, gen: Generator[Any, Any, Any] | None
) -> EffectTask[Any]:
    """The first effect the code created and the history has not confirmed yet, which the
    recorded ``event`` must describe (same task id, type and name); else NonDeterminismError."""
    if not run.unconfirmed:
        raise _effect_not_produced(run.instance_id, event, gen)
    task_id, task = next(iter(run.unconfirmed.items()))
    named = event.label_field
    if (
        task_id != event.task_id
        or type(task.event) is not type(event)
        or (named is not None and getattr(task.event, named) != getattr(event, named))
    ):
        raise _effect_mismatch(run.instance_id, event, task)
    return task


def all_confirmed(run: RunState | None, history_seq: int, recorded: str) -> None:
    """Every effect the code created must be in the history before ``recorded`` (the kind of the
    event at ``history_seq``, or "no further events" at the end of the history)."""
    if run is None or not run.unconfirmed:
        return
    task = next(iter(run.unconfirmed.values()))
    raise NonDeterminismError(
        run.instance_id,
        task_id=task.task_id,
        # Fix: at the end of the history, the seq the effect would have taken (was None)
        history_seq=history_seq,
        recorded=recorded,
        produced=task.event.label(),
        filename=task.location[0] if task.location else None,
        lineno=task.location[1] if task.location else None,
    )


def _effect_not_produced(
    instance_id: str, event: ev.ScheduledEvent, gen: Generator[Any, Any, Any] | None
) -> NonDeterminismError:
    """The history records an effect the code did not create (it finished, or waits)."""
    # Fix: name where the code is instead (it had no file:line for a removed effect)
    where = suspended_location(gen) if gen is not None else None
    produced = "nothing: the orchestrator " + (
        "had finished" if gen is None else "waits without creating this effect"
    )
    return NonDeterminismError(
        instance_id,
        task_id=event.task_id,
        history_seq=event.seq,
        recorded=event.label(),
        produced=produced,
        filename=where[0] if where else None,
        lineno=where[1] if where else None,
    )


def _effect_mismatch(
    instance_id: str, event: ev.ScheduledEvent, task: EffectTask[Any]
) -> NonDeterminismError:
    """The code created another effect than the one the history records at this point."""
    filename, lineno = task.location if task.location else (None, None)
    return NonDeterminismError(
        instance_id,
        task_id=event.task_id,
        history_seq=event.seq,
        recorded=event.label(),
        produced=task.event.label(),
        filename=filename,
        lineno=lineno,
    )
