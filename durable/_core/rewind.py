"""Rewind: take a FAILED run back to before its failure, by appending to its history.

The history is append-only, so a rewind is an ``ExecutionRewound(cut=k)`` event: replay skips
the events from seq ``k`` up to it (they stay, for the record), and the run goes on from the
state it had just before event ``k``. Where the cut goes (``cut_of``):

* the failures that ended the run are the last block of failed effects (``ActivityFailed``,
  ``SubOrchestrationFailed``) with no effect scheduled in between: a fan-in that collected
  several failures, or one failure, perhaps followed by compensation in an ``except`` block;
  the cut is the first failure of that block. An earlier failure the orchestrator moved past
  (it scheduled something else after it: a fallback) stays as it was.
* a run with no failed effect (the orchestrator raised by itself) is cut at its
  ``ExecutionFailed``: the code runs again from its last message (a fixed deploy goes on).

The episode that records the rewind (``rewind_episode``) re-records the set-aside successes
(results of effects scheduled before the cut, timers that fired, raised events) so nothing that
completed runs again, and schedules again what is still open: failed activities and timers.
Failed sub-orchestrations are rewound by the client in the same store transaction
(``children_to_rewind``); their ends reach the parent as usual. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import _actions as act
from .. import _events as ev
from .._errors import DurableError
from .._status import Status

if TYPE_CHECKING:
    from .episode import Episode
    from .interpreter import Orchestration
    from .registry import App
    from .run_state import RunState

#: events replay does not check the code's effects against (a rewind's code may go on past
#: the cut before the history does)
NOT_MESSAGES = (ev.ScheduledEvent, ev.PatchMarker, ev.ExecutionRewound)
_FAILURES = (ev.ActivityFailed, ev.SubOrchestrationFailed)
#: messages a rewind records again when they came after the cut (successes and arrivals)
_KEPT = (ev.ActivityCompleted, ev.SubOrchestrationCompleted, ev.TimerFired, ev.EventRaised)


def void_seqs(history: Sequence[ev.HistoryEvent], *, cut: int | None = None) -> frozenset[int]:
    """The seqs replay skips: each ``ExecutionRewound``'s set-aside events, and, with ``cut``,
    those from ``cut`` to the end (the rewind being decided now)."""
    void: set[int] = set()
    for event in history:
        if isinstance(event, ev.ExecutionRewound):
            void.update(range(event.cut, event.seq))
    if cut is not None:
        void.update(range(cut, len(history)))
    return frozenset(void)


def _effective(history: Sequence[ev.HistoryEvent]) -> list[ev.HistoryEvent]:
    void = void_seqs(history)
    return [e for e in history if e.seq not in void]


def cut_of(instance_id: str, history: Sequence[ev.HistoryEvent]) -> int:
    """Where a FAILED run's history is cut (see the module docstring)."""
    events = _effective(history)
    if not events or not isinstance(events[-1], ev.ExecutionFailed):
        raise DurableError(
            f"instance {instance_id!r}: its history does not end in ExecutionFailed, so there "
            "is no failure to rewind"
        )
    cut = events[-1].seq
    for event in reversed(events[:-1]):
        if isinstance(event, _FAILURES):
            cut = event.seq
        elif isinstance(event, ev.ScheduledEvent) and cut != events[-1].seq:
            break  # scheduled before the last block of failures: the block starts after it
    return cut


@dataclass(frozen=True, slots=True)
class SetAside:
    """What a cut sets aside: the messages to record again, and the children whose failure
    (or end) the parent will wait for again."""

    redelivered: list[ev.HistoryEvent]
    #: task id -> child instance id, for sub-orchestrations scheduled before the cut whose
    #: outcome the parent does not hold any more
    open_children: dict[int, str]


def set_aside(history: Sequence[ev.HistoryEvent], cut: int) -> SetAside:
    """The successes to record again after a cut at ``cut``, and the children left open."""
    void = void_seqs(history)
    before = [e for e in history if e.seq < cut and e.seq not in void]
    after = [e for e in history if e.seq >= cut and e.seq not in void]
    scheduled = {e.task_id: e for e in before if isinstance(e, ev.ScheduledEvent)}
    resolved = {e.task_id for e in before if isinstance(e, ev.CompletionEvent)}
    redelivered: list[ev.HistoryEvent] = []
    for event in after:
        if isinstance(event, ev.EventRaised) or (
            isinstance(event, _KEPT)
            and isinstance(event, ev.CompletionEvent)
            and event.task_id in scheduled
        ):
            redelivered.append(replace(event, seq=-1))
    answered = resolved | {e.task_id for e in redelivered if isinstance(e, ev.CompletionEvent)}
    children = {
        task_id: event.instance_id
        for task_id, event in scheduled.items()
        if isinstance(event, ev.SubOrchestrationScheduled) and task_id not in answered
    }
    return SetAside(redelivered, children)


def rewind_episode(
    app: App,
    instance_id: str,
    history: Sequence[ev.HistoryEvent],
    messages: Sequence[ev.HistoryEvent],
    now: datetime,
    **retried: Any,
) -> tuple[Orchestration, Episode]:
    """The episode that records ``messages[0]`` (an ``ExecutionRewound``) on a FAILED run with
    this ``history``, then applies ``messages[1:]``; and the orchestration, live after it.

    The orchestrator replays up to the cut (what the cut sets aside is never replayed, so code
    changed there fits); what the cut set aside succeeded is recorded again; failed activities
    and timers not fired are scheduled again. ``retried``: the ``retry`` and ``attempt`` of a
    retried sub-orchestration. Raises what replay raises (``NonDeterminismError`` when the
    code no longer fits the history before the cut).
    """
    from .interpreter import Orchestration  # which imports this module

    cut = cut_of(instance_id, history)
    aside = set_aside(history, cut)
    fresh = Orchestration(app, instance_id, history, cut=cut, **retried)
    answered = {e.task_id for e in aside.redelivered if isinstance(e, ev.CompletionEvent)}
    again = [a for a in fresh.open_actions() if getattr(a, "task_id", None) not in answered]
    asked = messages[0]
    assert isinstance(asked, ev.ExecutionRewound)
    try:
        head, episode = fresh.record_rewind(
            replace(asked, cut=cut), [*aside.redelivered, *messages[1:]], now
        )
    except BaseException:
        fresh.close()
        raise
    skipped = len(aside.redelivered)
    deferred = [i - skipped + 1 for i in episode.deferred if i >= skipped]
    return fresh, replace(
        episode,
        events=[*head.events, *episode.events],
        actions=[*head.actions, *again, *episode.actions],
        deferred=deferred,
    )


def requested(messages: Sequence[ev.HistoryEvent]) -> bool:
    """The episode's messages start with a rewind (its own kind of episode)."""
    return bool(messages) and isinstance(messages[0], ev.ExecutionRewound)


class Rewinding:
    """The interpreter's part in a rewind (``Orchestration`` inherits it)."""

    _run: RunState | None
    _replaying: bool
    _recorded: list[ev.HistoryEvent]
    _actions: list[act.Action]
    _unrecorded_end: tuple[ev.HistoryEvent, act.Action] | None

    if TYPE_CHECKING:  # the interpreter's own, used here
        version: int

        def apply(self, messages: Sequence[ev.HistoryEvent], now: datetime) -> Episode: ...
        def close(self) -> None: ...
        def _record(self, event: ev.HistoryEvent) -> None: ...
        def _record_created(self) -> None: ...
        def _record_end(self, now: datetime) -> None: ...

    def open_actions(self) -> list[act.Action]:
        """The actions that start again the activities and timers this run waits for."""
        run = self._run
        tasks = run.open.values() if run is not None else ()
        return [
            task.action
            for task in tasks
            if isinstance(task.action, (act.ScheduleActivity, act.StartTimer))
        ]

    def record_rewind(
        self, marker: ev.ExecutionRewound, messages: Sequence[ev.HistoryEvent], now: datetime
    ) -> tuple[Episode, Episode]:
        """Record ``marker`` live, then apply ``messages``: (the marker's part, the rest)."""
        from .episode import Episode

        self._replaying = False
        if self._run is not None:
            self._run.replaying = False
        self._recorded, self._actions = [], []
        self._record(replace(marker, seq=self.version, timestamp=now))
        head = Episode(events=self._recorded, actions=self._actions, status=Status.RUNNING)
        return head, self.apply(messages, now)

    def _on_rewound(self, event: ev.ExecutionRewound) -> None:
        """Replay: nothing (the set-aside events were skipped). Live: what the code did after
        the cut that the history does not hold (the old code failed there) is recorded now."""
        run = self._run
        if self._replaying or run is None:
            return
        run.created.extend(run.unconfirmed.values())
        run.unconfirmed.clear()
        self._record_created()
        if self._unrecorded_end is not None:
            self._record_end(event.timestamp)
