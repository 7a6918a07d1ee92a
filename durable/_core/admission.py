"""Admission: which live messages an episode records now, which stay in the inbox, which it drops.

Before the start and while the instance is suspended, messages wait in the inbox (a suspended
instance still takes the control requests that resume, suspend or terminate it). Completions
for effects that are no longer waiting, and a second start, are dropped. When continue-as-new
ends the run mid-batch, the control requests left in the batch wait for the next run.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from .. import _events as ev
from .._status import Status
from .run_state import RunState

#: messages a suspended instance still takes; the others wait in the inbox until it resumes
CONTROL = (ev.ExecutionResumed, ev.ExecutionTerminated, ev.ExecutionSuspended)
#: messages that end the waiting of the others: those held back re-enter the batch after them
RELEASING = (ev.ExecutionResumed, ev.ExecutionStarted)
_FOR_NEXT_RUN = (*CONTROL, ev.CancelRequested)


def must_wait(message: ev.HistoryEvent, run: RunState | None, status: Status) -> bool:
    """Messages that stay in the inbox for now: before the start, and while suspended."""
    if isinstance(message, (ev.ExecutionStarted, ev.ExecutionTerminated)):
        return False
    if run is None:
        # Fix: suspend/resume wait for the start too (a suspend recorded before it was
        # overridden by the start, which set RUNNING and ran the generator).
        return True
    return status is Status.SUSPENDED and not isinstance(message, CONTROL)


def accepts(message: ev.HistoryEvent, run: RunState | None) -> bool:
    """Drop live messages that no longer apply: stale or duplicate completions, restarts."""
    if isinstance(message, ev.CompletionEvent):
        task = run.open.get(message.task_id) if run else None
        return task is not None and not task.is_done
    if isinstance(message, ev.ExecutionStarted):
        return run is None
    # a rewind is taken only by a FAILED run, first in its episode (see ``rewind``)
    return not isinstance(message, ev.ExecutionRewound)


def for_next_run(leftover: list[tuple[int, ev.HistoryEvent]]) -> list[int]:
    """Continue-as-new ended the run mid-batch: the indexes of the control requests among the
    rest of the batch, which stay in the inbox for the next run. (Its events join the carryover;
    completions for this run's effects are dropped.)"""
    return [index for index, m in leftover if isinstance(m, _FOR_NEXT_RUN)]


class Batch:
    """The messages of one episode, taken one at a time in order, except those that must wait."""

    __slots__ = ("_backlog", "_waiting")

    def __init__(self, messages: Sequence[ev.HistoryEvent]) -> None:
        self._backlog: deque[tuple[int, ev.HistoryEvent]] = deque(enumerate(messages))
        self._waiting: list[tuple[int, ev.HistoryEvent]] = []

    def take(self, run: RunState | None, status: Status) -> ev.HistoryEvent | None:
        """The next message to record now, or None: those that must wait are set aside (until a
        message that releases them, which is recorded first), those that no longer apply are
        dropped."""
        while self._backlog:
            index, message = self._backlog.popleft()
            if must_wait(message, run, status):
                self._waiting.append((index, message))
            elif accepts(message, run):
                if self._waiting and isinstance(message, RELEASING):
                    self._backlog.extendleft(reversed(self._waiting))
                    self._waiting = []
                return message
        return None

    def waiting(self) -> list[int]:
        """The indexes of the messages set aside: they stay in the inbox."""
        return [index for index, _ in self._waiting]

    def leftover(self) -> list[tuple[int, ev.HistoryEvent]]:
        """The messages not taken (the run ended mid-batch), in their order."""
        return sorted([*self._backlog, *self._waiting], key=lambda pair: pair[0])
