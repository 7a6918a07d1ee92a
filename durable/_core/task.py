"""Tasks: what effects return and orchestrators yield, and the composites when_all / when_any.

A task is a small state machine (pending -> done with a value or an error). It knows nothing of
the history or the generator: the interpreter completes leaf tasks from events and resumes the
generator when the task it is blocked on is done. Composites subscribe to their children. The
leaves are effects (``EffectTask``: what a live run records for them) and event waits
(``EventWait``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Sequence
from typing import Any, Generic, TypeVar

from .. import _actions as act
from .. import _events as ev
from .._errors import DurableError, TaskTimeout

T = TypeVar("T")

# Completion order across all tasks of a process; only the relative order within one
# orchestration matters (when_any's "first to finish"), and that is the same on every replay.
_completion_counter = itertools.count()


class Task(Generic[T]):
    """The eventual result of an effect; ``yield`` it (or ``yield from`` it) in an orchestrator.

    ``x = yield task`` gives the result or raises the failure at the ``yield``. For static typing,
    ``x = yield from task`` returns ``T``.
    """

    __slots__ = ("_done_order", "_error", "_listeners", "_value")

    def __init__(self) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._done_order: int | None = None
        self._listeners: list[Callable[[Task[Any]], None]] | None = None

    # -- public --------------------------------------------------------------------------------

    @property
    def is_done(self) -> bool:
        """True once the task has a result or an error."""
        return self._done_order is not None

    @property
    def is_failed(self) -> bool:
        """True when the task finished with an error."""
        return self._error is not None

    def result(self) -> T:
        """The task's value; raises its error. Only valid once ``is_done``."""
        if self._done_order is None:
            raise DurableError("the task has not finished yet: yield it first")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[no-any-return]

    def exception(self) -> BaseException | None:
        """The task's error, or None."""
        return self._error

    def __iter__(self) -> Generator[Task[T], Any, T]:
        result = yield self
        return result  # type: ignore[no-any-return]

    # -- used by the interpreter and composites --------------------------------------------------

    def complete(self, value: Any) -> None:
        """Finish with ``value`` (ignored if already finished: the first completion wins)."""
        if self._done_order is None:
            self._value = value
            self._finish()

    def fail(self, error: BaseException) -> None:
        """Finish with ``error`` (ignored if already finished)."""
        if self._done_order is None:
            self._error = error
            self._finish()

    def subscribe(self, listener: Callable[[Task[Any]], None]) -> None:
        """Call ``listener(self)`` when the task finishes (at once if it has)."""
        if self._done_order is not None:
            listener(self)
        elif self._listeners is None:
            self._listeners = [listener]
        else:
            self._listeners.append(listener)

    def pending_leaves(self) -> Generator[Task[Any], None, None]:
        """The unfinished leaf tasks this task waits on (itself for a leaf)."""
        if self._done_order is None:
            yield self

    def _finish(self) -> None:
        self._done_order = next(_completion_counter)
        listeners, self._listeners = self._listeners, None
        for listener in listeners or ():
            listener(self)


class CompositeTask(Task[T]):
    """A task made of child tasks."""

    __slots__ = ("children",)

    def __init__(self, children: Sequence[Task[Any]]) -> None:
        super().__init__()
        self.children = list(children)
        for child in self.children:
            if not isinstance(child, Task):
                raise TypeError(f"expected Task objects, got {type(child).__name__} ({child!r})")

    def pending_leaves(self) -> Generator[Task[Any], None, None]:
        for child in self.children:
            # Fix: checked before each child, since the caller may finish this task between
            # two leaves (a buffered event delivered to the first wait of a when_any); the
            # losing waits must not be activated and take their buffered events too.
            if self._done_order is not None:
                return
            yield from child.pending_leaves()


class WhenAll(CompositeTask[list[Any]]):
    """Done when every child is done: results in the order given; fails on the first failure."""

    __slots__ = ("_remaining",)

    def __init__(self, children: Sequence[Task[Any]]) -> None:
        super().__init__(children)
        self._remaining = len(self.children)
        if not self.children:
            self.complete([])
            return
        for child in self.children:
            child.subscribe(self._on_child_done)

    def _on_child_done(self, child: Task[Any]) -> None:
        if child.is_failed:
            self.fail(child._error)  # type: ignore[arg-type]
            return
        self._remaining -= 1
        if self._remaining == 0:
            self.complete([c._value for c in self.children])


class WhenAny(CompositeTask["Task[Any]"]):
    """Done when the first child finishes (even with an error): its value is that child task."""

    __slots__ = ()

    def __init__(self, children: Sequence[Task[Any]]) -> None:
        super().__init__(children)
        if not self.children:
            raise ValueError("when_any needs at least one task")
        finished = [c for c in self.children if c.is_done]
        if finished:
            self.complete(min(finished, key=lambda c: c._done_order or 0))
            return
        for child in self.children:
            child.subscribe(self._on_child_done)

    def _on_child_done(self, child: Task[Any]) -> None:
        self.complete(child)


class WithTimeout(CompositeTask[T]):
    """The inner task's result, or ``TaskTimeout`` when the timer finishes first."""

    __slots__ = ("_description", "inner", "timer")

    def __init__(self, inner: Task[T], timer: Task[Any], description: str) -> None:
        super().__init__([inner, timer])
        self.inner = inner
        self.timer = timer
        self._description = description
        inner.subscribe(self._on_inner_done)
        timer.subscribe(self._on_timer_done)

    def _on_inner_done(self, inner: Task[Any]) -> None:
        if inner.is_failed:
            self.fail(inner._error)  # type: ignore[arg-type]
        else:
            self.complete(inner._value)

    def _on_timer_done(self, timer: Task[Any]) -> None:
        if timer.is_failed:  # Fix: a cancelled timer cancels the wait; it did not time out
            self.fail(timer._error)  # type: ignore[arg-type]
        elif not self.is_done:
            self.fail(TaskTimeout(f"{self._description} timed out"))


class EffectTask(Task[T]):
    """A leaf task produced by an effect: it knows what a live run records for it.

    ``location`` is the file and line of the user's code that created it (for
    ``NonDeterminismError``).
    """

    __slots__ = ("action", "event", "hint", "location", "on_cancel")

    def __init__(
        self,
        event: ev.ScheduledEvent,
        action: act.Action | None,
        hint: Any,
        location: tuple[str, int] | None,
    ) -> None:
        super().__init__()
        self.event = event
        self.action = action
        self.hint = hint
        self.location = location
        #: action that withdraws the effect when the instance is cancelled (timers)
        self.on_cancel: act.Action | None = None

    @property
    def task_id(self) -> int:
        return self.event.task_id


class EventWait(Task[Any]):
    """Waits for the next external event named ``name``; receives it only while awaited."""

    __slots__ = ("active", "name")

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.active = False
