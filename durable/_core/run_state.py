"""RunState: what the interpreter tracks for one run of an orchestrator.

The user's ``ctx`` creates effects through it and reads its facts (the episode time, whether
the code replays); the interpreter (``interpreter``, ``delivery``, ``admission``, ``checks``)
reads and writes the rest: the effects waiting for the history to confirm them, those waiting
for a result, those created live and not recorded yet, the external events and their waits.
None of it is visible on ``ctx``. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .. import _actions as act
from .. import _events as ev
from .task import EffectTask, EventWait


class RunState:
    """One run's state: the episode time, the replay flags and the effects in flight."""

    __slots__ = (
        "buffered_events",
        "closing",
        "created",
        "custom_status",
        "emitted_actions",
        "instance_id",
        "locks",
        "name",
        "next_task_id",
        "now",
        "open",
        "patches_new",
        "patches_recorded",
        "replaying",
        "started",
        "unconfirmed",
        "waiters",
    )

    def __init__(
        self,
        instance_id: str,
        name: str,
        started: datetime,
        *,
        replaying: bool = True,
        patches: Iterable[str] = (),
    ) -> None:
        self.instance_id = instance_id
        self.name = name
        #: the run's start time (it seeds ``ctx.new_uuid()`` and ``ctx.random()``)
        self.started = started
        #: the time of the event being processed, or of the live episode
        self.now = started
        #: True while the code re-runs what the history already holds
        self.replaying = replaying
        #: True while the generator is being closed: its effects are ignored
        self.closing = False
        self.next_task_id = 0
        #: the encoded value last given to ``ctx.set_custom_status``
        self.custom_status: str | None = None
        #: effects created by the code and not yet matched or recorded (in task id order)
        self.unconfirmed: dict[int, EffectTask[Any]] = {}
        #: effects recorded in the history and waiting for their completion
        self.open: dict[int, EffectTask[Any]] = {}
        #: effects created while live, for the interpreter to record
        self.created: list[EffectTask[Any]] = []
        #: actions with no event of their own (a withdrawn timer), for the interpreter to emit
        self.emitted_actions: list[act.Action] = []
        #: patches the history holds or this run recorded; ``patches_new`` are not recorded yet
        self.patches_recorded: set[str] = set(patches)
        self.patches_new: list[str] = []
        #: the entity locks asked for and not released yet, by task id (``CriticalSection``)
        self.locks: dict[int, Any] = {}
        #: external events that came before a wait took them (FIFO per name)
        self.buffered_events: dict[str, deque[ev.EventRaised | ev.UpdateRequested]] = {}
        #: the waits created for each event name, oldest first
        self.waiters: dict[str, list[EventWait]] = {}

    # -- what ctx asks ---------------------------------------------------------------------------

    def take_task_id(self) -> int:
        """The next effect's task id (its sequence number in yield order)."""
        task_id = self.next_task_id
        self.next_task_id += 1
        return task_id

    def add_effect(self, task: EffectTask[Any]) -> None:
        """A new effect: to be confirmed by the history (replay) or recorded (live); ignored,
        giving its task id back, while the generator closes."""
        if self.closing:
            self.next_task_id -= 1
        elif self.replaying:
            self.unconfirmed[task.task_id] = task
        else:
            self.created.append(task)

    def add_wait(self, wait: EventWait) -> None:
        """A new wait for an external event (ignored while the generator closes)."""
        if not self.closing:
            self.waiters.setdefault(wait.name, []).append(wait)

    def abandon(self, wait: EventWait) -> None:
        """A wait whose timeout passed never receives an event: later ones stay buffered."""
        waits = self.waiters.get(wait.name)
        if waits and wait in waits and not wait.is_done:
            waits.remove(wait)

    def withdraw_timer(self, timer: EffectTask[Any]) -> None:
        """A timeout's timer is no longer needed: finish it here, and remove its row when live.

        Finishing it (on both the replay and the live path) makes a late ``TimerFired`` a stale
        message that is dropped, so both paths stay identical.
        """
        if timer.is_done:
            return
        timer.complete(None)
        if not self.replaying and timer.on_cancel is not None:
            self.emitted_actions.append(timer.on_cancel)

    def patched(self, change_id: str) -> bool:
        """``ctx.patched``: True if the history holds the patch or a live run records it now."""
        if change_id in self.patches_recorded:
            return True
        if self.replaying or self.closing:
            return False
        self.patches_recorded.add(change_id)
        self.patches_new.append(change_id)
        return True

    # -- what the interpreter takes ------------------------------------------------------------

    def take_new(self) -> tuple[list[str], list[act.Action], list[EffectTask[Any]]]:
        """The patches, bare actions and effects created live since the last call, in order."""
        patches, self.patches_new = self.patches_new, []
        actions, self.emitted_actions = self.emitted_actions, []
        created, self.created = self.created, []
        return patches, actions, created
