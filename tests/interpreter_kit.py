"""A kit for testing the interpreter through its pure API: build messages, apply them, compare.

``Driver`` starts an instance and applies messages episode by episode. At every episode it also
rebuilds a fresh ``Orchestration`` from the history prefix and applies the same messages to it,
asserting that both give the same episode (DESIGN section 3: the cached path and the replay path
must produce identical events and actions). No asyncio, no store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from durable import _actions as act
from durable import _events as ev
from durable._core.interpreter import Episode, Orchestration
from durable._core.registry import App
from durable._status import Status

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=1)


def started(app: App, orchestrator: Any, *args: Any, **kwargs: Any) -> ev.ExecutionStarted:
    """The ``ExecutionStarted`` message of a call ``orchestrator(ctx, *args, **kwargs)``."""
    definition = app.resolve_orchestrator(orchestrator)
    payload = app.serializer.encode_call(
        definition.fn, definition.name, args, kwargs, skip_first=True
    )
    return ev.ExecutionStarted(name=definition.name, input=payload)


def done(task_id: int, value: Any = None, app: App | None = None) -> ev.ActivityCompleted:
    """An activity result message."""
    serializer = (app or App()).serializer
    return ev.ActivityCompleted(task_id=task_id, result=serializer.encode(value))


def failed(
    task_id: int,
    error_type: str = "ValueError",
    message: str = "boom",
    traceback: str = 'Traceback (most recent call last):\n  File "acts.py", line 7\nValueError',
    attempts: int = 1,
) -> ev.ActivityFailed:
    """An activity failure message (after the retry policy gave up)."""
    return ev.ActivityFailed(
        task_id=task_id,
        error=ev.ErrorInfo(error_type, message, traceback),
        attempts=attempts,
    )


def fired(task_id: int) -> ev.TimerFired:
    """A timer firing message."""
    return ev.TimerFired(task_id=task_id)


def raised(name: str, payload: Any = None) -> ev.EventRaised:
    """An external event message."""
    return ev.EventRaised(name=name, payload=App().serializer.encode(payload))


def kinds(events: Sequence[ev.HistoryEvent]) -> list[str]:
    """The kinds of ``events``, in order."""
    return [event.kind for event in events]


def of_type(items: Sequence[Any], cls: type[Any]) -> list[Any]:
    """The items of ``items`` that are instances of ``cls``."""
    return [item for item in items if isinstance(item, cls)]


def check_history(history: Sequence[ev.HistoryEvent]) -> None:
    """Seq contiguous from 0; at most one terminal event, and only at the end."""
    assert [event.seq for event in history] == list(range(len(history)))
    terminal = [i for i, event in enumerate(history) if event.kind in ev.TERMINAL_KINDS]
    assert terminal in ([], [len(history) - 1]), kinds(history)


def same_episode(cached: Episode, replayed: Episode) -> None:
    """Assert that two episodes are identical, with a readable difference when they are not."""
    assert kinds(replayed.events) == kinds(cached.events)
    assert replayed.events == cached.events
    assert replayed.actions == cached.actions
    assert replayed.status == cached.status
    assert replayed.output == cached.output
    assert replayed.error == cached.error
    assert replayed.custom_status == cached.custom_status
    assert replayed.deferred == cached.deferred


class Driver:
    """One instance driven episode by episode, every episode checked against a fresh replay."""

    def __init__(
        self,
        app: App,
        orchestrator: Any,
        *args: Any,
        instance_id: str = "inst-1",
        at: datetime = T0,
        retry: dict[str, object] | None = None,
        attempt: int = 1,
        **kwargs: Any,
    ) -> None:
        self.app = app
        self.instance_id = instance_id
        #: a retried sub-orchestration's policy and attempt, given to every Orchestration
        self.retry, self.attempt = retry, attempt
        self.history: list[ev.HistoryEvent] = []
        self.live = self.orchestration([])
        self.now = at
        self.episodes: list[Episode] = []
        self.first = self.apply(started(app, orchestrator, *args, **kwargs), at=at)

    # -- driving -------------------------------------------------------------------------------

    def apply(self, *messages: ev.HistoryEvent, at: datetime | None = None) -> Episode:
        """Apply ``messages`` as one episode (at ``at``, else one second after the last one)."""
        now = at if at is not None else self.now + STEP
        self.now = now
        prefix = list(self.history)
        episode = self.live.apply(list(messages), now)
        fresh = self.orchestration(prefix)
        replayed = fresh.apply(list(messages), now)
        fresh.close()
        same_episode(episode, replayed)
        self.history.extend(episode.events)
        check_history(self.history)
        self.episodes.append(episode)
        return episode

    def replay(self) -> Orchestration:
        """A fresh Orchestration rebuilt from the whole history; same status and output."""
        fresh = self.orchestration(self.history)
        assert fresh.status == self.live.status
        assert fresh.output == self.live.output
        if fresh.status is Status.CANCELED:  # the history keeps the reason, not the traceback
            assert fresh.error is not None and self.live.error is not None
            assert fresh.error.error_type == self.live.error.error_type
            assert fresh.error.message == self.live.error.message
        else:
            assert fresh.error == self.live.error
        assert fresh.custom_status == self.live.custom_status
        assert fresh.version == len(self.history)
        return fresh

    def orchestration(self, history: Sequence[ev.HistoryEvent]) -> Orchestration:
        """A fresh Orchestration of this instance rebuilt from ``history``."""
        return Orchestration(
            self.app, self.instance_id, history, retry=self.retry, attempt=self.attempt
        )

    # -- reading -------------------------------------------------------------------------------

    @property
    def last(self) -> Episode:
        return self.episodes[-1]

    @property
    def status(self) -> Status:
        return self.live.status

    def result(self, hint: Any = Any) -> Any:
        """The decoded output of a COMPLETED instance."""
        assert self.live.status is Status.COMPLETED, (self.live.status, self.live.error)
        assert self.live.output is not None
        return self.app.serializer.decode(self.live.output, hint)

    def scheduled(self, episode: Episode | None = None) -> list[tuple[int, str]]:
        """``(task_id, name)`` of the activities an episode scheduled (the last by default)."""
        actions = (episode or self.last).actions
        return [(a.task_id, a.name) for a in of_type(actions, act.ScheduleActivity)]

    def events_of(self, cls: type[Any]) -> list[Any]:
        """The history events of type ``cls``."""
        return of_type(self.history, cls)
