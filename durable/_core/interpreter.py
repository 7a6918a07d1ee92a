"""The interpreter: drives an orchestrator generator from its history. Pure: no I/O, no clock.

``Orchestration(app, instance_id, history)`` replays a stored history (checking that the code
yields what the history recorded) and keeps the live generator; ``apply(messages, now)`` records
new messages (activity results, timer firings, events, control requests) as history events, runs
the generator as far as they allow, and returns an ``Episode``: the new events, the actions to
carry out and the resulting status. A cached ``Orchestration`` applies each new message in O(1);
a fresh one replays first. Both paths produce identical episodes.

The run's state (effects in flight, waits, buffers, the episode time) is a ``RunState`` the
interpreter owns; the user's ``ctx`` only creates effects through it. The interpreter leans on
four helpers: ``admission`` (which messages an episode takes now), ``delivery`` (external
events, their waits and buffers), ``checks`` (the HistoryCorrupted and NonDeterminismError it
raises) and ``outcomes`` (results and failures translated between the history, the generator
and the run, and a failed run's retry).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from .. import _actions as act
from .. import _events as ev
from .._errors import Cancelled, SerializationError, Terminated, qualified_name
from .._status import Status
from . import admission, entity_calls, recorded, rewind
from . import checks as check
from . import outcomes as outcome
from .context import ContinueAsNewRequest, OrchestrationContext
from .delivery import EventDelivery, carry_late_arrivals
from .episode import Episode
from .registry import App
from .run_state import RunState
from .task import EffectTask, Task

__all__ = ["Episode", "Orchestration"]


class Orchestration(rewind.Rewinding):
    """One instance's live orchestrator: its generator and the state its history rebuilt.

    ``retry`` (a ``RetryPolicy.to_json()``) and ``attempt`` (this run's number, from 1) are a
    retried sub-orchestration's: when the run fails and the policy allows another attempt, the
    episode continues the instance as new, from the run's input, after the policy's delay.
    """

    def __init__(
        self,
        app: App,
        instance_id: str,
        history: Sequence[ev.HistoryEvent] = (),
        *,
        retry: Mapping[str, object] | None = None,
        attempt: int = 1,
        cut: int | None = None,
    ) -> None:
        self.app = app
        self.instance_id = instance_id
        self._retry = outcome.Retry(instance_id, retry, attempt) if retry is not None else None
        self.status = Status.PENDING
        self.output: str | None = None
        self.error: ev.ErrorInfo | None = None
        #: the next history seq; equals the number of events recorded
        self.version = 0
        self._run: RunState | None = None
        self._input = ""
        self._gen: Generator[Any, Any, Any] | None = None
        self._awaiting: Task[Any] | None = None
        self._delivery = EventDelivery(app)
        self._replaying = True
        self._recorded: list[ev.HistoryEvent] = []
        self._actions: list[act.Action] = []
        #: an end the code reached while replaying that the history does not hold (yet)
        self._unrecorded_end: tuple[ev.HistoryEvent, act.Action] | None = None
        # rewinds set events aside (``cut``: one being decided), which replay skips
        void = rewind.void_seqs(history, cut=cut)
        self._history_patches = {
            e.change_id for e in history if isinstance(e, ev.PatchMarker) and e.seq not in void
        }
        for event in history:
            if event.seq != self.version:
                raise check.seq_gap(instance_id, event, self.version)
            self.version += 1
            if event.seq not in void:
                self._process(event)
        if cut is None:  # cut short, the code may go on where the old code failed
            check.all_confirmed(self._run, self.version, "no further events")

    # -- public --------------------------------------------------------------------------------

    @property
    def is_finished(self) -> bool:
        """True once the run has ended (completed, failed, continued, terminated, canceled)."""
        return self.status.is_terminal or self.status is Status.CONTINUED_AS_NEW

    @property
    def custom_status(self) -> str | None:
        """The encoded custom status the orchestrator last set."""
        return self._run.custom_status if self._run else None

    def apply(self, messages: Sequence[ev.HistoryEvent], now: datetime) -> Episode:
        """Record ``messages`` at episode time ``now`` and run the orchestrator on them."""
        self._replaying = False
        if self._run is not None:
            self._run.replaying = False
        self._recorded, self._actions = [], []
        if self._unrecorded_end is not None:
            self._record_end(now)
        batch = admission.Batch(messages)
        while not self.is_finished:
            message = batch.take(self._run, self.status)
            if message is None:
                break
            if message.seq != self.version or message.timestamp != now:  # else stamped already
                message = replace(message, seq=self.version, timestamp=now)
            self._record(message)
        if self.status is Status.CONTINUED_AS_NEW:
            # Fix: the rest of a batch that continue-as-new cut short belongs to the next run
            # (before, its events were consumed and lost).
            leftover = batch.leftover()
            if self.error is None:  # a retried failed run carries no events into the next one
                carry_late_arrivals(self._actions, (m for _, m in leftover))
            deferred = admission.for_next_run(leftover)
        else:
            deferred = batch.waiting() if not self.is_finished else []
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
        if self._run is not None:
            self._run.closing = True
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
        if self._run is not None:
            self._run.now = event.timestamp
            if self._replaying and not isinstance(event, rewind.NOT_MESSAGES):
                check.all_confirmed(self._run, event.seq, event.kind)
        handler(self, event)
        awaited = self._awaiting
        if awaited is not None and awaited.is_done:
            self._awaiting = None
            self._resume_with(awaited)

    # -- event handlers (one per event type) ---------------------------------------------------

    def _on_started(self, event: ev.ExecutionStarted) -> None:
        definition = self.app.resolve_orchestrator(event.name)
        run = RunState(
            self.instance_id,
            event.name,
            event.timestamp,
            replaying=self._replaying,
            patches=self._history_patches,
        )
        ctx = OrchestrationContext(self.app, run)
        self._run, self._input = run, event.input
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
        run = self._require_run(event)
        task = check.matching_effect(run, event, self._gen)
        del run.unconfirmed[event.task_id]
        self._open(task, event)
        if not run.unconfirmed:
            self._delivery.activate_deferred(run)

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

    def _on_entity_answer(self, event: ev.EntityCallFailed | ev.EntityLocked) -> None:
        entity_calls.answer(self._take_open(event), event)

    def _on_timer_fired(self, event: ev.TimerFired) -> None:
        self._take_open(event).complete(None)

    def _on_event_raised(self, event: ev.EventRaised | ev.UpdateRequested) -> None:
        self._delivery.arrive(self._require_run(event), event)

    def _on_patch(self, event: ev.PatchMarker) -> None:
        """Nothing to do: replay knew every marker up front, live recorded it when called."""

    def _on_cancel_requested(self, event: ev.CancelRequested) -> None:
        run = self._run
        if run is None or self._gen is None:
            return
        error = Cancelled(event.reason)
        for task in list(run.open.values()):
            if task.on_cancel is not None and not task.is_done and not self._replaying:
                self._actions.append(task.on_cancel)
            task.fail(error)
        run.open.clear()
        self._delivery.cancel(run, error)
        self._awaiting = None
        self._step(lambda gen: gen.throw(Cancelled(event.reason)))

    def _on_suspended(self, event: ev.ExecutionSuspended) -> None:
        if not self.is_finished:
            self.status = Status.SUSPENDED

    def _on_resumed(self, event: ev.ExecutionResumed) -> None:
        if self.status is Status.SUSPENDED:
            self.status = Status.RUNNING

    def _on_terminated(self, event: ev.ExecutionTerminated) -> None:
        if not self._replaying:  # no code runs: the locks it holds are given back here
            self._actions.extend(entity_calls.releases(self._run))
        self._unrecorded_end = None
        self.status = Status.TERMINATED
        self.error = ev.ErrorInfo(qualified_name(Terminated), event.reason or "terminated")
        self.close()

    def _on_terminal(self, event: ev.HistoryEvent) -> None:
        """Replay of a recorded end: the history is the truth about how the run ended."""
        self._unrecorded_end = None
        self.status, self.output, self.error = outcome.END_OF[type(event)](event)
        self.close()

    def _require_run(self, event: ev.HistoryEvent) -> RunState:
        if self._run is None:
            raise check.before_start(self.instance_id, event)
        return self._run

    def _take_open(self, event: ev.CompletionEvent) -> EffectTask[Any]:
        task = self._require_run(event).open.pop(event.task_id, None)
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
                assert self._run is not None  # the generator runs once started
                self._delivery.activate_when_confirmed(self._run, task)
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
        if self._run is None:
            return
        patches, actions, created = self._run.take_new()
        for change_id in patches:
            self._recorded_event(ev.PatchMarker(change_id=change_id))
        self._actions.extend(actions)
        for task in created:
            self._recorded_event(task.event)
            if task.action is not None:
                self._actions.append(task.action)
            self._open(task, task.event)

    def _recorded_event(self, event: ev.HistoryEvent) -> None:
        now = self._run.now if self._run else ev.EPOCH
        self._recorded.append(replace(event, seq=self.version, timestamp=now))
        self.version += 1

    def _open(self, task: EffectTask[Any], event: ev.ScheduledEvent) -> None:
        """The effect is recorded: complete it at once if it is immediate, else wait for it."""
        if isinstance(event, ev.NowRecorded):
            task.complete(event.value)
        elif isinstance(event, recorded.IMMEDIATE):
            task.complete(None)
        else:
            assert self._run is not None
            self._run.open[event.task_id] = task

    # -- ending the run ------------------------------------------------------------------------

    def _on_return(self, value: Any) -> None:
        if isinstance(value, ContinueAsNewRequest):
            assert self._run is not None  # the orchestrator returned: it was started
            carry = tuple(self._delivery.carryover(self._run))
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
        restart = self._retry.after(error, self._input) if self._retry else None
        if restart is not None:  # the error stays: the instance shows why it runs again
            end = ev.ExecutionContinuedAsNew(input=self._input)
            self._end(Status.CONTINUED_AS_NEW, end, restart)
            return
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
        assert self._run is not None and self._unrecorded_end is not None
        (event, action), self._unrecorded_end = self._unrecorded_end, None
        self._run.now = now
        self._recorded_event(event)
        self._actions.append(action)
        self._withdraw_timers()

    def _withdraw_timers(self) -> None:
        run = self._run
        assert run is not None  # a run ends only once started
        for task in run.open.values():
            if task.on_cancel is not None and not task.is_done:
                self._actions.append(task.on_cancel)
        self._actions.extend(entity_calls.releases(run))


_HANDLERS: dict[type[ev.HistoryEvent], Callable[[Orchestration, Any], None]] = {
    ev.ExecutionStarted: Orchestration._on_started,
    **dict.fromkeys(recorded.SCHEDULED, Orchestration._on_scheduled),
    ev.EntityResponded: Orchestration._on_completed,
    ev.EntityCallFailed: Orchestration._on_entity_answer,
    ev.EntityLocked: Orchestration._on_entity_answer,
    ev.ActivityCompleted: Orchestration._on_completed,
    ev.SubOrchestrationCompleted: Orchestration._on_completed,
    ev.ActivityFailed: Orchestration._on_activity_failed,
    ev.SubOrchestrationFailed: Orchestration._on_child_failed,
    ev.TimerFired: Orchestration._on_timer_fired,
    ev.EventRaised: Orchestration._on_event_raised,
    ev.UpdateRequested: Orchestration._on_event_raised,
    ev.PatchMarker: Orchestration._on_patch,
    ev.CancelRequested: Orchestration._on_cancel_requested,
    ev.ExecutionSuspended: Orchestration._on_suspended,
    ev.ExecutionResumed: Orchestration._on_resumed,
    ev.ExecutionTerminated: Orchestration._on_terminated,
    ev.ExecutionRewound: Orchestration._on_rewound,
    **dict.fromkeys(outcome.END_OF, Orchestration._on_terminal),
}
