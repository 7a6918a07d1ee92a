"""The interpreter: drives an orchestrator generator from its history. Pure: no I/O, no clock.

``Orchestration(app, instance_id, history)`` replays a stored history (checking that the code
yields what the history recorded) and keeps the live generator; ``apply(messages, now)`` records
new messages (activity results, timer firings, events, control requests) as history events, runs
the generator as far as they allow, and returns an ``Episode``: the new events, the actions to
carry out and the resulting status. A cached ``Orchestration`` applies each new message in O(1);
a fresh one replays first. Both paths produce identical episodes.

It leans on four helpers: ``_admission`` (which messages an episode takes now),
``_event_delivery`` (external events, their waits and buffers), ``_replay_checks`` (the
HistoryCorrupted and NonDeterminismError it raises) and ``_outcomes`` (results and failures
translated between the history, the generator and the run).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from .. import _actions as act
from .. import _events as ev
from .._errors import Cancelled, SerializationError, Terminated, qualified_name
from .._status import Status
from . import admission
from . import checks as check
from . import outcomes as outcome
from .context import ContinueAsNewRequest, EffectTask, OrchestrationContext
from .delivery import EventDelivery, carry_late_arrivals
from .registry import App
from .task import Task


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
        self._delivery = EventDelivery(app)
        self._replaying = True
        self._recorded: list[ev.HistoryEvent] = []
        self._actions: list[act.Action] = []
        #: an end the code reached while replaying that the history does not hold (yet)
        self._unrecorded_end: tuple[ev.HistoryEvent, act.Action] | None = None
        self._history_patches = {e.change_id for e in history if isinstance(e, ev.PatchMarker)}
        for event in history:
            if event.seq != self.version:
                raise check.seq_gap(instance_id, event, self.version)
            self.version += 1
            self._process(event)
        check.all_confirmed(self._ctx, self.version, "no further events")

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
            if admission.must_wait(message, self._ctx, self.status):
                waiting.append((index, message))
                continue
            if not admission.accepts(message, self._ctx):
                continue
            self._record(replace(message, seq=self.version, timestamp=now))
            if waiting and isinstance(message, admission.RELEASING):
                backlog.extendleft(reversed(waiting))
                waiting = []
        if self.status is Status.CONTINUED_AS_NEW:
            # Fix: the rest of a batch that continue-as-new cut short belongs to the next run
            # (before, its events were consumed and lost).
            leftover = sorted([*backlog, *waiting], key=lambda pair: pair[0])
            carry_late_arrivals(self._actions, (m for _, m in leftover))
            deferred = admission.for_next_run(leftover)
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

    def _process(self, event: ev.HistoryEvent) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is None:
            raise check.unknown_event(self.instance_id, event)
        if self._ctx is not None:
            self._ctx._now = event.timestamp
            if self._replaying and not isinstance(event, (ev.ScheduledEvent, ev.PatchMarker)):
                check.all_confirmed(self._ctx, event.seq, event.kind)
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
        task = check.matching_effect(ctx, event, self._gen)
        del ctx.unconfirmed[event.task_id]
        self._open(task, event)
        if not ctx.unconfirmed:
            self._delivery.activate_deferred(ctx)

    def _on_completed(self, event: ev.ActivityCompleted | ev.SubOrchestrationCompleted) -> None:
        task = self._take_open(event)
        try:
            task.complete(self.app.serializer.decode(event.result, task.hint, path="result"))
        except SerializationError as exc:
            task.fail(exc)

    def _on_activity_failed(self, event: ev.ActivityFailed) -> None:
        task = self._take_open(event)
        task.fail(outcome.activity_failure(event, getattr(task.event, "name", "?")))

    def _on_child_failed(self, event: ev.SubOrchestrationFailed) -> None:
        task = self._take_open(event)
        task.fail(outcome.child_failure(event, getattr(task.event, "instance_id", "?")))

    def _on_timer_fired(self, event: ev.TimerFired) -> None:
        self._take_open(event).complete(None)

    def _on_event_raised(self, event: ev.EventRaised) -> None:
        self._delivery.arrive(self._require_ctx(event), event)

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
        self._delivery.cancel(ctx, error)
        self._awaiting = None
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
        self.status, self.output, self.error = outcome.END_OF[type(event)](event)
        self.close()

    def _require_ctx(self, event: ev.HistoryEvent) -> OrchestrationContext:
        if self._ctx is None:
            raise check.before_start(self.instance_id, event)
        return self._ctx

    def _take_open(self, event: ev.CompletionEvent) -> EffectTask[Any]:
        task = self._require_ctx(event).open.pop(event.task_id, None)
        if task is None:
            raise check.nothing_waiting(self.instance_id, event)
        return task

    # -- running the generator -----------------------------------------------------------------

    def _resume_with(self, task: Task[Any]) -> None:
        self._delivery.deactivate()
        self._step(outcome.resumption(task))

    def _step(self, advance: outcome.Advance) -> None:
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
                self._end_canceled(exc)
                return
            except Exception as exc:
                self._record_created()
                self._end_failed(exc)
                return
            self._record_created()
            task = self._as_task(yielded)
            if task is not None and not task.is_done:
                assert self._ctx is not None  # the generator runs once started
                self._delivery.activate_when_confirmed(self._ctx, task)
            if task is None or task.is_done:
                # Fix: the generator moves on; a wait activated for the task (a loser of a
                # when_any that a buffered event finished) must not take a later event.
                self._delivery.deactivate()
                advance = (
                    outcome.resumption(task)
                    if task is not None
                    else outcome.not_a_task(yielded, self._gen)
                )
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

    # -- ending the run ------------------------------------------------------------------------

    def _on_return(self, value: Any) -> None:
        if isinstance(value, ContinueAsNewRequest):
            assert self._ctx is not None  # the orchestrator returned: it was started
            carry = tuple(self._delivery.carryover(self._ctx))
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
        error = outcome.error_info(exc)
        self.error = error
        self._end(Status.FAILED, ev.ExecutionFailed(error=error), act.Fail(error))

    def _end_canceled(self, exc: Cancelled) -> None:
        self.error = outcome.error_info(exc)
        end = ev.ExecutionCanceled(reason=exc.reason)
        self._end(Status.CANCELED, end, act.MarkCanceled(exc.reason))

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
    **dict.fromkeys(outcome.END_OF, Orchestration._on_terminal),
}
