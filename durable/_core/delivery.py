"""Event delivery: the external events of one run, from their arrival to the wait that takes them.

An ``EventRaised`` (or an ``UpdateRequested``, see ``updates``) goes to the first active wait for
its name, else it is buffered (FIFO per
name). A wait is active only while the generator is blocked on a task that holds it: activated
when the generator blocks, deactivated when it moves on, so an event never goes to a wait the
code no longer awaits. Buffered events remember their arrival order, and continue-as-new carries
the unconsumed ones (and those that came in the same batch) into the next run in that order.
The waits and the buffers live in the run's ``RunState``; the interpreter's ``Orchestration``
owns one ``EventDelivery`` and calls it. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from .. import _actions as act
from .. import _events as ev
from .._errors import SerializationError
from .registry import App
from .run_state import RunState
from .task import EventWait, Task
from .updates import UpdateRequest, key_of

#: what arrives for a wait: an external event or an update
Arrival = ev.EventRaised | ev.UpdateRequested


class EventDelivery:
    """Which waits may take an external event now, and the events waiting for a wait."""

    __slots__ = ("_activate_later", "_active_waits", "_app", "_arrival_order", "_arrivals")

    def __init__(self, app: App) -> None:
        self._app = app
        self._active_waits: list[EventWait] = []
        #: replay: the awaited task whose waits activate once this step's effects are confirmed
        self._activate_later: Task[Any] | None = None
        #: (arrival number, name) of buffered events, so continue-as-new keeps their order
        self._arrival_order: list[tuple[int, str]] = []
        self._arrivals = 0

    def arrive(self, run: RunState, event: Arrival) -> None:
        """Hand ``event`` (or an update) to the first active wait for its name, or buffer it."""
        self._arrivals += 1
        key = key_of(event)
        for wait in run.waiters.get(key, ()):
            if wait.active and not wait.is_done:
                run.waiters[key].remove(wait)
                self._deliver(wait, event)
                return
        run.buffered_events.setdefault(key, deque()).append(event)
        self._arrival_order.append((self._arrivals, key))

    def activate_when_confirmed(self, run: RunState, task: Task[Any]) -> None:
        """Let the waits ``task`` holds take events; while replaying, once the history has
        confirmed the effects this step created.

        Fix: live, those effects are recorded first, which completes a ``ctx.now()`` at once;
        replay completes it only at its ``NowRecorded``. Activating before that let a wait in
        ``when_any([wait, ctx.now()])`` take a buffered event and win on replay only.
        """
        if run.replaying and run.unconfirmed:
            self._activate_later = task
        else:
            self._activate(run, task)

    def activate_deferred(self, run: RunState) -> None:
        """Replay: the history confirmed this step's effects; activate the waits held back."""
        later, self._activate_later = self._activate_later, None
        if later is not None and not later.is_done:
            self._activate(run, later)

    def deactivate(self) -> None:
        """The generator moves on: no wait takes an event until it blocks on one again."""
        for wait in self._active_waits:
            wait.active = False
        self._active_waits.clear()

    def cancel(self, run: RunState, error: BaseException) -> None:
        """Fail every wait with ``error``: the run is cancelled, no wait takes an event again."""
        for waits in run.waiters.values():
            for wait in waits:
                wait.fail(error)
        run.waiters.clear()
        self.deactivate()

    def carryover(self, run: RunState) -> list[Arrival]:
        """The buffered events (and updates) no wait took, in arrival order: continue-as-new
        passes them on."""
        queues = {key: deque(events) for key, events in run.buffered_events.items()}
        out: list[Arrival] = []
        for _, key in sorted(self._arrival_order):
            if queues.get(key):
                out.append(replace(queues[key].popleft(), seq=-1, timestamp=ev.EPOCH))
        return out

    def _activate(self, run: RunState, task: Task[Any]) -> None:
        if not run.waiters:
            return
        for leaf in task.pending_leaves():
            if isinstance(leaf, EventWait) and not leaf.active:
                leaf.active = True
                self._active_waits.append(leaf)
                buffered = run.buffered_events.get(leaf.name)
                if buffered:
                    run.waiters[leaf.name].remove(leaf)
                    self._deliver(leaf, buffered.popleft())
                    self._forget_arrival(leaf.name)

    def _deliver(self, wait: EventWait, event: Arrival) -> None:
        try:
            if isinstance(event, ev.UpdateRequested):
                arg = self._app.serializer.decode(event.arg, path=f"update {event.name!r}")
                wait.complete(UpdateRequest(event.name, arg, event.update_id))
            else:
                payload = event.payload
                wait.complete(self._app.serializer.decode(payload, path=f"event {wait.name!r}"))
        except SerializationError as exc:
            wait.fail(exc)

    def _forget_arrival(self, name: str) -> None:
        for index, (_, arrived) in enumerate(self._arrival_order):
            if arrived == name:
                del self._arrival_order[index]
                return


def carry_late_arrivals(actions: list[act.Action], messages: Iterable[ev.HistoryEvent]) -> None:
    """Add the events among ``messages`` (the rest of a batch that continue-as-new cut short) to
    the carryover of the ``ContinueAsNew`` in ``actions``, after the buffered ones: they came
    later."""
    events = tuple(
        replace(m, seq=-1, timestamp=ev.EPOCH)
        for m in messages
        if isinstance(m, (ev.EventRaised, ev.UpdateRequested))
    )
    for index, action in enumerate(actions):
        if isinstance(action, act.ContinueAsNew) and events:
            actions[index] = replace(action, carryover=action.carryover + events)
