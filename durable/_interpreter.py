"""The interpreter: drives an orchestrator generator from its history. Pure: no I/O, no clock.

``Orchestration(app, instance_id, history)`` replays a stored history (checking that the code
yields what the history recorded) and keeps the live generator; ``apply(messages, now)`` records
new messages (activity results, timer firings, events, control requests) as history events, runs
the generator as far as they allow, and returns an ``Episode``: the new events, the actions to
carry out and the resulting status. A cached ``Orchestration`` applies each new message in O(1);
a fresh one replays first. Both paths produce identical episodes.
"""

from __future__ import annotations

import traceback
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from . import _actions as act
from . import _events as ev
from ._context import ContinueAsNewRequest, EffectTask, EventWait, OrchestrationContext
from ._errors import ActivityFailed as ActivityFailedError
from ._errors import (
    Cancelled,
    HistoryCorrupted,
    NonDeterminismError,
    OrchestrationFailed,
    SerializationError,
    TaskTimeout,
    Terminated,
    _RemoteFailure,
    qualified_name,
)
from ._registry import App
from ._status import Status
from ._task import Task

_PACKAGE_DIR = str(Path(__file__).parent)

#: messages a suspended instance still takes; the others wait in the inbox until it resumes
_CONTROL = (ev.ExecutionResumed, ev.ExecutionTerminated, ev.ExecutionSuspended)


@dataclass(frozen=True, slots=True)
class Episode:
    """What one ``apply`` decided: commit ``events`` and carry out ``actions`` atomically.

    ``deferred`` holds the indexes of messages not consumed (the instance is suspended or not
    started yet; or control requests after a continue-as-new, for the next run): they stay in
    the inbox. ``custom_status`` is the encoded value last set by the orchestrator.
    """

    events: list[ev.HistoryEvent]
    actions: list[act.Action]
    status: Status
    output: str | None = None
    error: ev.ErrorInfo | None = None
    custom_status: str | None = None
    deferred: list[int] = field(default_factory=list)


class Orchestration:
    """One instance's live orchestrator: its generator and the state its history rebuilt."""

    def __init__(self, app: App, instance_id: str, history: Sequence[ev.HistoryEvent] = ()) -> None:
        self.app = app
        self.instance_id = instance_id
        self.status = Status.PENDING
        self.output: str | None = None
        self.error: ev.ErrorInfo | None = None
        #: the next history seq; equals the number of events recorded
        self.version = 0
        self._ctx: OrchestrationContext | None = None
        self._gen: Generator[Any, Any, Any] | None = None
        self._awaiting: Task[Any] | None = None
        #: replay: the awaited task whose waits activate once this step's effects are confirmed
        self._activate_later: Task[Any] | None = None
        self._active_waits: list[EventWait] = []
        #: (arrival number, name) of buffered events, so continue-as-new keeps their order
        self._arrival_order: list[tuple[int, str]] = []
        self._arrivals = 0
        self._replaying = True
        self._recorded: list[ev.HistoryEvent] = []
        self._actions: list[act.Action] = []
        #: an end the code reached while replaying that the history does not hold (yet)
        self._unrecorded_end: tuple[ev.HistoryEvent, act.Action] | None = None
        self._history_patches = {e.change_id for e in history if isinstance(e, ev.PatchMarker)}
        for event in history:
            if event.seq != self.version:
                raise HistoryCorrupted(
                    instance_id, event.seq, f"expected seq {self.version}, found {event.seq}"
                )
            self.version += 1
            self._process(event)
        self._check_all_confirmed(None)

    # -- public --------------------------------------------------------------------------------

    @property
    def is_finished(self) -> bool:
        """True once the run has ended (completed, failed, continued, terminated, canceled)."""
        return self.status.is_terminal or self.status is Status.CONTINUED_AS_NEW

    @property
    def custom_status(self) -> str | None:
        """The encoded custom status the orchestrator last set."""
        return self._ctx.custom_status if self._ctx else None

    def apply(self, messages: Sequence[ev.HistoryEvent], now: datetime) -> Episode:
        """Record ``messages`` at episode time ``now`` and run the orchestrator on them."""
        self._replaying = False
        if self._ctx is not None:
            self._ctx._replaying = False
        self._recorded, self._actions = [], []
        if self._unrecorded_end is not None:
            self._record_end(now)
        deferred: list[int] = []
        backlog: deque[tuple[int, ev.HistoryEvent]] = deque(enumerate(messages))
        waiting: list[tuple[int, ev.HistoryEvent]] = []
        while backlog and not self.is_finished:
            index, message = backlog.popleft()
            if self._must_wait(message):
                waiting.append((index, message))
                continue
            if not self._accepts(message):
                continue
            self._record(replace(message, seq=self.version, timestamp=now))
            if waiting and isinstance(message, (ev.ExecutionResumed, ev.ExecutionStarted)):
                backlog.extendleft(reversed(waiting))
                waiting = []
        if self.status is Status.CONTINUED_AS_NEW:
            # Fix: the rest of a batch that continue-as-new cut short belongs to the next run
            # (before, its events were consumed and lost).
            deferred = self._pass_on(sorted([*backlog, *waiting], key=lambda pair: pair[0]))
        else:
            deferred = [index for index, _ in waiting] if not self.is_finished else []
        return Episode(
            events=self._recorded,
            actions=self._actions,
            status=self.status,
            output=self.output,
            error=self.error,
            custom_status=self.custom_status,
            deferred=deferred,
        )

    def close(self) -> None:
        """Close the generator (its ``finally`` blocks run; effects they create are ignored)."""
        gen, self._gen = getattr(self, "_gen", None), None
        if gen is None:
            return
        if self._ctx is not None:
            self._ctx._closing = True
        for _ in range(100):  # a finally block may yield again: close until it gives up
            try:
                gen.close()
                return
            except RuntimeError:
                continue
            except Exception:
                return

    def __del__(self) -> None:
        self.close()

    # -- recording -----------------------------------------------------------------------------

    def _record(self, event: ev.HistoryEvent) -> None:
        """Append a live event and let it take effect."""
        self._recorded.append(event)
        self.version += 1
        self._process(event)
        # Fix: a message can finish a timeout's wait without resuming the generator (it still
        # waits in a when_all); emit the CancelTimer now, not in some later episode that the
        # replay path (which never emits it) would not match.
        self._record_created()

    def _must_wait(self, message: ev.HistoryEvent) -> bool:
        """Messages that stay in the inbox for now: before the start, and while suspended."""
        if isinstance(message, (ev.ExecutionStarted, ev.ExecutionTerminated)):
            return False
        if self._ctx is None:
            # Fix: suspend/resume wait for the start too (a suspend recorded before it was
            # overridden by the start, which set RUNNING and ran the generator).
            return True
        return self.status is Status.SUSPENDED and not isinstance(message, _CONTROL)

    def _accepts(self, message: ev.HistoryEvent) -> bool:
        """Drop live messages that no longer apply: stale or duplicate completions, restarts."""
        if isinstance(message, ev.CompletionEvent):
            task = self._ctx.open.get(message.task_id) if self._ctx else None
            return task is not None and not task.is_done
        if isinstance(message, ev.ExecutionStarted):
            return self._ctx is None
        return True

    def _process(self, event: ev.HistoryEvent) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is None:
            raise HistoryCorrupted(self.instance_id, event.seq, f"unknown event {event.kind}")
        if self._ctx is not None:
            self._ctx._now = event.timestamp
            if self._replaying and not isinstance(event, (ev.ScheduledEvent, ev.PatchMarker)):
                self._check_all_confirmed(event)
        handler(self, event)
        awaited = self._awaiting
        if awaited is not None and awaited.is_done:
            self._awaiting = None
            self._resume_with(awaited)

    # -- event handlers (one per event type) ---------------------------------------------------

    def _on_started(self, event: ev.ExecutionStarted) -> None:
        definition = self.app.resolve_orchestrator(event.name)
        ctx = OrchestrationContext(self.app, self.instance_id, event.name, event.timestamp)
        ctx._replaying = self._replaying
        ctx.patches_recorded = set(self._history_patches)
        self._ctx = ctx
        self.status = Status.RUNNING
        try:
            args, kwargs = self.app.serializer.decode_call(
                event.input, definition.fn, skip_first=True
            )
            self._gen = definition.fn(ctx, *args, **kwargs)
        except Exception as exc:
            self._end_failed(exc)
            return
        self._step(lambda gen: gen.send(None))

    def _on_scheduled(self, event: ev.ScheduledEvent) -> None:
        """Replay: the history confirms the next effect the code created."""
        ctx = self._require_ctx(event)
        if not ctx.unconfirmed:
            # Fix: name where the code is instead (it had no file:line for a removed effect)
            where = _waiting_at(self._gen) if self._gen is not None else None
            produced = "nothing: the orchestrator " + (
                "had finished" if self._gen is None else "waits without creating this effect"
            )
            raise NonDeterminismError(
                self.instance_id,
                task_id=event.task_id,
                history_seq=event.seq,
                recorded=event.label(),
                produced=produced,
                filename=where[0] if where else None,
                lineno=where[1] if where else None,
            )
        task_id, task = next(iter(ctx.unconfirmed.items()))
        named = event.label_field
        if (
            task_id != event.task_id
            or type(task.event) is not type(event)
            or (named is not None and getattr(task.event, named) != getattr(event, named))
        ):
            raise _mismatch(self.instance_id, event, task)
        del ctx.unconfirmed[task_id]
        self._open(task, event)
        later = self._activate_later
        if later is not None and not ctx.unconfirmed:
            self._activate_later = None
            if not later.is_done:
                self._activate_waits(later)

    def _on_completed(self, event: ev.ActivityCompleted | ev.SubOrchestrationCompleted) -> None:
        task = self._take_open(event)
        try:
            task.complete(self.app.serializer.decode(event.result, task.hint, path="result"))
        except SerializationError as exc:
            task.fail(exc)

    def _on_activity_failed(self, event: ev.ActivityFailed) -> None:
        task = self._take_open(event)
        error = event.error
        if error.error_type == qualified_name(TaskTimeout):
            task.fail(TaskTimeout(error.message))
            return
        name = getattr(task.event, "name", "?")
        task.fail(
            ActivityFailedError(
                name,
                error_type=error.error_type,
                message=error.message,
                traceback=error.traceback,
                attempts=event.attempts,
            )
        )

    def _on_child_failed(self, event: ev.SubOrchestrationFailed) -> None:
        task = self._take_open(event)
        child_id = getattr(task.event, "instance_id", "?")
        error = event.error
        task.fail(
            OrchestrationFailed(
                child_id,
                error_type=error.error_type,
                message=error.message,
                traceback=error.traceback,
            )
        )

    def _on_timer_fired(self, event: ev.TimerFired) -> None:
        self._take_open(event).complete(None)

    def _on_event_raised(self, event: ev.EventRaised) -> None:
        ctx = self._require_ctx(event)
        self._arrivals += 1
        for wait in ctx.waiters.get(event.name, ()):
            if wait.active and not wait.is_done:
                ctx.waiters[event.name].remove(wait)
                self._deliver(wait, event.payload)
                return
        ctx.buffered_events.setdefault(event.name, deque()).append(event.payload)
        self._arrival_order.append((self._arrivals, event.name))

    def _on_patch(self, event: ev.PatchMarker) -> None:
        """Nothing to do: replay knew every marker up front, live recorded it when called."""

    def _on_cancel_requested(self, event: ev.CancelRequested) -> None:
        ctx = self._ctx
        if ctx is None or self._gen is None:
            return
        error = Cancelled(event.reason)
        for task in list(ctx.open.values()):
            if task.on_cancel is not None and not task.is_done and not self._replaying:
                self._actions.append(task.on_cancel)
            task.fail(error)
        ctx.open.clear()
        for waits in ctx.waiters.values():
            for wait in waits:
                wait.fail(error)
        ctx.waiters.clear()
        self._awaiting = None
        self._deactivate_waits()
        self._step(lambda gen: gen.throw(Cancelled(event.reason)))

    def _on_suspended(self, event: ev.ExecutionSuspended) -> None:
        if not self.is_finished:
            self.status = Status.SUSPENDED

    def _on_resumed(self, event: ev.ExecutionResumed) -> None:
        if self.status is Status.SUSPENDED:
            self.status = Status.RUNNING

    def _on_terminated(self, event: ev.ExecutionTerminated) -> None:
        self._unrecorded_end = None
        self.status = Status.TERMINATED
        self.error = ev.ErrorInfo(qualified_name(Terminated), event.reason or "terminated")
        self.close()

    def _on_terminal(self, event: ev.HistoryEvent) -> None:
        """Replay of a recorded end: the history is the truth about how the run ended."""
        self._unrecorded_end = None
        self.status, self.output, self.error = _END_OF[type(event)](event)
        self.close()

    # -- running the generator -----------------------------------------------------------------

    def _resume_with(self, task: Task[Any]) -> None:
        self._deactivate_waits()
        error = task.exception()
        if error is not None:
            self._step(lambda gen: gen.throw(error))
        else:
            value = task._value
            self._step(lambda gen: gen.send(value))

    def _step(self, advance: Callable[[Generator[Any, Any, Any]], Any]) -> None:
        """Advance the generator until it waits on an unfinished task, returns or raises."""
        while self._gen is not None:
            try:
                yielded = advance(self._gen)
            except StopIteration as stop:
                self._record_created()
                self._on_return(stop.value)
                return
            except Cancelled as exc:
                self._record_created()
                self.error = _error_info(exc)
                self._end(
                    Status.CANCELED,
                    ev.ExecutionCanceled(reason=exc.reason),
                    act.MarkCanceled(exc.reason),
                )
                return
            except Exception as exc:
                self._record_created()
                self._end_failed(exc)
                return
            self._record_created()
            task = self._as_task(yielded)
            if task is not None and not task.is_done:
                self._activate_or_defer(task)
            if task is None or task.is_done:
                # Fix: the generator moves on; a wait activated for the task (a loser of a
                # when_any that a buffered event finished) must not take a later event.
                self._deactivate_waits()
                advance = _outcome_of(task, yielded, self._gen)
                continue
            self._awaiting = task
            return

    def _as_task(self, yielded: Any) -> Task[Any] | None:
        return yielded if isinstance(yielded, Task) else None

    def _record_created(self) -> None:
        """Live: record the effects the last step created, in task id order."""
        ctx = self._ctx
        if ctx is None:
            return
        for change_id in ctx.patches_new:
            self._recorded_event(ev.PatchMarker(change_id=change_id))
        ctx.patches_new.clear()
        if ctx.emitted_actions:
            self._actions.extend(ctx.emitted_actions)
            ctx.emitted_actions.clear()
        if not ctx.created:
            return
        created, ctx.created = ctx.created, []
        for task in created:
            self._recorded_event(task.event)
            if task.action is not None:
                self._actions.append(task.action)
            self._open(task, task.event)

    def _recorded_event(self, event: ev.HistoryEvent) -> None:
        now = self._ctx._now if self._ctx else ev.EPOCH
        self._recorded.append(replace(event, seq=self.version, timestamp=now))
        self.version += 1

    def _open(self, task: EffectTask[Any], event: ev.ScheduledEvent) -> None:
        """The effect is recorded: complete it at once if it is immediate, else wait for it."""
        if isinstance(event, ev.NowRecorded):
            task.complete(event.value)
        elif isinstance(event, (ev.EventSent, ev.EntitySignaled)):
            task.complete(None)
        else:
            assert self._ctx is not None
            self._ctx.open[event.task_id] = task

    def _on_return(self, value: Any) -> None:
        if isinstance(value, ContinueAsNewRequest):
            carry = tuple(self._carryover())
            self._end(
                Status.CONTINUED_AS_NEW,
                ev.ExecutionContinuedAsNew(input=value.input),
                act.ContinueAsNew(value.input, carry),
            )
            return
        try:
            output = self.app.serializer.encode(value, path="result")
        except SerializationError as exc:
            self._end_failed(exc)
            return
        self.output = output
        self._end(Status.COMPLETED, ev.ExecutionCompleted(output=output), act.Complete(output))

    def _end_failed(self, exc: BaseException) -> None:
        error = _error_info(exc)
        self.error = error
        self._end(Status.FAILED, ev.ExecutionFailed(error=error), act.Fail(error))

    def _end(self, status: Status, event: ev.HistoryEvent, action: act.Action) -> None:
        self._gen = None
        self.status = status
        if not self._replaying:
            self._recorded_event(event)
            self._actions.append(action)
            self._withdraw_timers()
        else:
            # Fix: the code may end where the history goes on without an end (the old code
            # waited for an event there); the next episode records the end (before, the run
            # stayed finished with no terminal event and no Complete/Fail action).
            self._unrecorded_end = (event, action)

    def _record_end(self, now: datetime) -> None:
        """Record the end the code reached while replaying (see ``_end``)."""
        assert self._ctx is not None and self._unrecorded_end is not None
        (event, action), self._unrecorded_end = self._unrecorded_end, None
        self._ctx._now = now
        self._recorded_event(event)
        self._actions.append(action)
        self._withdraw_timers()

    def _withdraw_timers(self) -> None:
        ctx = self._ctx
        assert ctx is not None  # a run ends only once started
        for task in ctx.open.values():
            if task.on_cancel is not None and not task.is_done:
                self._actions.append(task.on_cancel)

    def _pass_on(self, leftover: list[tuple[int, ev.HistoryEvent]]) -> list[int]:
        """Continue-as-new ended the run mid-batch: hand the rest of the batch to the next run.

        Events join the carryover (after the buffered ones: they arrived later); control
        requests stay in the inbox (deferred); completions for this run's effects are dropped.
        """
        events = tuple(
            ev.EventRaised(name=m.name, payload=m.payload)
            for _, m in leftover
            if isinstance(m, ev.EventRaised)
        )
        for index, action in enumerate(self._actions):
            if isinstance(action, act.ContinueAsNew) and events:
                self._actions[index] = replace(action, carryover=action.carryover + events)
        control = (*_CONTROL, ev.CancelRequested)
        return [index for index, m in leftover if isinstance(m, control)]

    def _carryover(self) -> list[ev.EventRaised]:
        ctx = self._ctx
        assert ctx is not None  # the orchestrator returned: it was started
        queues = {name: deque(payloads) for name, payloads in ctx.buffered_events.items()}
        out = []
        for _, name in sorted(self._arrival_order):
            if queues.get(name):
                out.append(ev.EventRaised(name=name, payload=queues[name].popleft()))
        return out

    # -- external events -----------------------------------------------------------------------

    def _activate_or_defer(self, task: Task[Any]) -> None:
        """Let the waits ``task`` holds take events; while replaying, once the history has
        confirmed the effects this step created.

        Fix: live, those effects are recorded first, which completes a ``ctx.now()`` at once;
        replay completes it only at its ``NowRecorded``. Activating before that let a wait in
        ``when_any([wait, ctx.now()])`` take a buffered event and win on replay only.
        """
        ctx = self._ctx
        if self._replaying and ctx is not None and ctx.unconfirmed:
            self._activate_later = task
        else:
            self._activate_waits(task)

    def _activate_waits(self, task: Task[Any]) -> None:
        ctx = self._ctx
        if ctx is None or not ctx.waiters:
            return
        for leaf in task.pending_leaves():
            if isinstance(leaf, EventWait) and not leaf.active:
                leaf.active = True
                self._active_waits.append(leaf)
                buffered = ctx.buffered_events.get(leaf.name)
                if buffered:
                    ctx.waiters[leaf.name].remove(leaf)
                    self._deliver(leaf, buffered.popleft())
                    self._forget_arrival(leaf.name)

    def _deactivate_waits(self) -> None:
        for wait in self._active_waits:
            wait.active = False
        self._active_waits.clear()

    def _deliver(self, wait: EventWait, payload: str) -> None:
        try:
            wait.complete(self.app.serializer.decode(payload, path=f"event {wait.name!r}"))
        except SerializationError as exc:
            wait.fail(exc)

    def _forget_arrival(self, name: str) -> None:
        for index, (_, arrived) in enumerate(self._arrival_order):
            if arrived == name:
                del self._arrival_order[index]
                return

    # -- checks --------------------------------------------------------------------------------

    def _require_ctx(self, event: ev.HistoryEvent) -> OrchestrationContext:
        if self._ctx is None:
            raise HistoryCorrupted(
                self.instance_id, event.seq, f"{event.kind} before ExecutionStarted"
            )
        return self._ctx

    def _take_open(self, event: ev.CompletionEvent) -> EffectTask[Any]:
        ctx = self._require_ctx(event)
        task = ctx.open.pop(event.task_id, None)
        if task is None:
            raise HistoryCorrupted(
                self.instance_id,
                event.seq,
                f"{event.kind} for effect #{event.task_id}, which is not waiting for a result",
            )
        return task

    def _check_all_confirmed(self, at: ev.HistoryEvent | None) -> None:
        """While replaying, every effect the code created must be in the history."""
        ctx = self._ctx
        if not self._replaying or ctx is None or not ctx.unconfirmed:
            return
        task = next(iter(ctx.unconfirmed.values()))
        raise NonDeterminismError(
            self.instance_id,
            task_id=task.task_id,
            # Fix: at the end of the history, the seq the effect would have taken (was None)
            history_seq=at.seq if at is not None else self.version,
            recorded=f"{at.kind}" if at is not None else "no further events",
            produced=task.event.label(),
            filename=task.location[0] if task.location else None,
            lineno=task.location[1] if task.location else None,
        )


def _mismatch(instance_id: str, event: ev.ScheduledEvent, task: EffectTask[Any]) -> Exception:
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


def _waiting_at(gen: Generator[Any, Any, Any]) -> tuple[str, int] | None:
    """Where a suspended orchestrator waits: its innermost frame outside durable (helpers too)."""
    location = None
    inner: Any = gen
    while inner is not None:
        frame = getattr(inner, "gi_frame", None)
        if frame is not None and not frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            location = (frame.f_code.co_filename, frame.f_lineno)
        inner = getattr(inner, "gi_yieldfrom", None)
    return location


def _outcome_of(
    task: Task[Any] | None, yielded: Any, gen: Generator[Any, Any, Any]
) -> Callable[[Generator[Any, Any, Any]], Any]:
    """How to resume the generator right away: with the finished task's outcome, or an error."""
    if task is None:
        frame: Any = getattr(gen, "gi_frame", None)
        inner: Any = gen
        while getattr(inner, "gi_yieldfrom", None) is not None:  # the innermost helper's yield
            inner = inner.gi_yieldfrom
            frame = getattr(inner, "gi_frame", None) or frame
        where = f" at {frame.f_code.co_filename}:{frame.f_lineno}" if frame else ""
        error: BaseException = TypeError(
            f"the orchestrator yielded {yielded!r} ({type(yielded).__name__}){where}; yield a "
            "Task returned by a ctx method (ctx.call_activity, ctx.sleep, ctx.when_all, ...)"
        )
        return lambda g: g.throw(error)
    failure = task.exception()
    if failure is not None:
        return lambda g: g.throw(failure)
    value = task._value
    return lambda g: g.send(value)


def _error_info(exc: BaseException) -> ev.ErrorInfo:
    text = "".join(traceback.format_exception(exc))
    if isinstance(exc, _RemoteFailure) and exc.traceback:
        text += f"\nThe failure came from:\n{exc.traceback}"
    return ev.ErrorInfo(qualified_name(type(exc)), str(exc), text)


def _ended_completed(e: Any) -> tuple[Status, str | None, ev.ErrorInfo | None]:
    return Status.COMPLETED, e.output, None


def _ended_failed(e: Any) -> tuple[Status, str | None, ev.ErrorInfo | None]:
    return Status.FAILED, None, e.error


def _ended_canceled(e: Any) -> tuple[Status, str | None, ev.ErrorInfo | None]:
    # Fix: the live path records the Cancelled error; replay rebuilds it (the history keeps
    # the reason, not the traceback) instead of leaving it None.
    return Status.CANCELED, None, ev.ErrorInfo(qualified_name(Cancelled), str(Cancelled(e.reason)))


_END_OF: dict[type[ev.HistoryEvent], Callable[[Any], tuple[Status, Any, Any]]] = {
    ev.ExecutionCompleted: _ended_completed,
    ev.ExecutionFailed: _ended_failed,
    ev.ExecutionContinuedAsNew: lambda e: (Status.CONTINUED_AS_NEW, None, None),
    ev.ExecutionCanceled: _ended_canceled,
}

_HANDLERS: dict[type[ev.HistoryEvent], Callable[[Orchestration, Any], None]] = {
    ev.ExecutionStarted: Orchestration._on_started,
    ev.ActivityScheduled: Orchestration._on_scheduled,
    ev.TimerCreated: Orchestration._on_scheduled,
    ev.NowRecorded: Orchestration._on_scheduled,
    ev.EventSent: Orchestration._on_scheduled,
    ev.EntitySignaled: Orchestration._on_scheduled,
    ev.SubOrchestrationScheduled: Orchestration._on_scheduled,
    ev.ActivityCompleted: Orchestration._on_completed,
    ev.SubOrchestrationCompleted: Orchestration._on_completed,
    ev.ActivityFailed: Orchestration._on_activity_failed,
    ev.SubOrchestrationFailed: Orchestration._on_child_failed,
    ev.TimerFired: Orchestration._on_timer_fired,
    ev.EventRaised: Orchestration._on_event_raised,
    ev.PatchMarker: Orchestration._on_patch,
    ev.CancelRequested: Orchestration._on_cancel_requested,
    ev.ExecutionSuspended: Orchestration._on_suspended,
    ev.ExecutionResumed: Orchestration._on_resumed,
    ev.ExecutionTerminated: Orchestration._on_terminated,
    **dict.fromkeys(_END_OF, Orchestration._on_terminal),
}
