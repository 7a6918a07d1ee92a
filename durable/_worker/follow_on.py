"""Follow-on activities: the next step of a sequence runs in the task that ran the last one.

When an activity's result is committed together with its instance's next episode, that commit
may lease the episode's new activities to this worker (eager dispatch, ``Steps.settle``). The
first of them is handed back to the activity task that recorded the result, which runs it next
(``Worker._tracked`` loops), instead of spawning a task for it: a sequential orchestration then
costs no task start per step. The others are spawned as before.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar

from ..stores.base import ActivityWorkItem


class Hand:
    """One activity task's hand: at most one follow-on activity, for that task only.

    Held with ``with hand() as held`` (a plain class: every attempt enters one)."""

    __slots__ = ("_token", "item", "owner")

    def __init__(self) -> None:
        self.owner = asyncio.current_task()
        self.item: ActivityWorkItem | None = None

    def __enter__(self) -> Hand:
        self._token = _HAND.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _HAND.reset(self._token)


#: set while an activity task runs; a task started meanwhile inherits it (hence ``owner``)
_HAND: ContextVar[Hand | None] = ContextVar("durable_follow_on", default=None)


def hand() -> Hand:
    """The current task's hand, while it runs one activity."""
    return Hand()


def free() -> bool:
    """Whether the current task is an activity task that can take a follow-on."""
    held = _HAND.get()
    return held is not None and held.item is None and held.owner is asyncio.current_task()


def kept(activity: ActivityWorkItem) -> bool:
    """True when the current activity task takes ``activity`` as its follow-on."""
    held = _HAND.get()
    if held is None or held.item is not None or held.owner is not asyncio.current_task():
        return False
    held.item = activity
    return True
