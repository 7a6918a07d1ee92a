"""Deciding episodes: from a live generator and the messages it takes, the commit to ask for.

Decide, then commit: every episode is computed here before any store I/O (from the cached
generator, or a replay of the history read before), and only then does the worker ask the
store to commit it. Three ways in:

* ``for_claim``: an instance the worker claimed, with the messages the claim read;
* ``after_completions``: activities of an instance completed here; from its cached generator
  (or a replay of its history, when another worker's episode scheduled them), the next
  episode is decided with those completions as its only messages and handed to
  ``Store.complete_activity``, which commits it with the completion only if the instance is
  exactly where the generator is (else the completion waits in the inbox and the generator,
  which has moved on, is dropped);
* ``first``: an instance a client of this process starts, decided from its ``ExecutionStarted``
  alone and committed with its creation (``Store.start_instance``).

Completions and claims of one instance are decided one at a time in this process
(``instance_lock``), so that concurrent completions of a fan-in each find the generator where
the previous commit left it: no replay.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from .. import _actions as act
from .. import _events as ev
from .._core import rewind
from .._core.episode import Episode
from .._core.interpreter import Orchestration
from .._core.registry import App
from .._errors import StoreError
from .._status import Status
from ..stores.base import ActivityWorkItem, EpisodeCommit, NewInstance, OrchestrationWorkItem
from .generator_cache import GeneratorCache
from .slots import InstanceLocks


@dataclass(slots=True)
class Decided:
    """An episode decided, and the generator that decided it (kept if the commit lands)."""

    commit: EpisodeCommit
    episode: Episode
    orchestration: Orchestration
    name: str
    #: activities it schedules that this worker could run (the most it may claim eagerly)
    runnable: int = 0


def commit_of(
    item: OrchestrationWorkItem, episode: Episode, worker_id: str, consumed: list[int]
) -> EpisodeCommit:
    """The commit of ``episode``, decided from ``item`` (``consumed``: its message ids taken)."""
    return EpisodeCommit(
        instance_id=item.instance_id,
        worker_id=worker_id,
        execution_id=item.execution_id,
        expected_version=item.version,
        events=episode.events,
        actions=episode.actions,
        consumed=consumed,
        status=episode.status,
        output=episode.output,
        error=episode.error,
        custom_status=episode.custom_status,
    )


class StoreClock:
    """The store's clock as this process sees it, for episodes decided before any I/O.

    Each claim reads the store's time; the offset to the local clock is kept, so an episode
    decided without a claim is stamped as the store would have stamped it. ``clock`` (unix
    seconds, default ``time.time``) is the local clock: ``durable.testing`` passes the virtual
    clock its store runs on, so the offset stays 0 and episodes are stamped in virtual time.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._offset = 0.0
        self._clock = clock

    def observe(self, store_now: datetime) -> None:
        self._offset = store_now.timestamp() - self._clock()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock() + self._offset, UTC)


#: a completion of one of a run's first tasks may replay a history not cached here (``_cold``)
_COLD_TASKS = 16


class Episodes:
    """The worker's episode decisions and the live generators they come from."""

    def __init__(
        self,
        app: App,
        worker_id: str,
        cache_size: int,
        runnable: Callable[[act.ScheduleActivity], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._app = app
        self._worker_id = worker_id
        self._cache = GeneratorCache(cache_size)
        self._runnable = runnable
        self._locks = InstanceLocks()
        self.clock = StoreClock(clock)
        #: episodes decided by replaying a history (a cache miss), for the benchmarks
        self.replays = 0

    def instance_lock(self, instance_id: str) -> AbstractAsyncContextManager[None]:
        """Decide and commit one episode of this instance at a time in this process."""
        return self._locks.hold(instance_id)

    async def for_claim(
        self,
        item: OrchestrationWorkItem,
        history: Callable[[str], Awaitable[list[ev.HistoryEvent]]],
    ) -> Decided:
        """The episode of a claimed instance: from the cached generator when it is exactly at
        the claimed version, else from a replay of ``history``. Raises what the interpreter
        raises (``NonDeterminismError``, ``HistoryCorrupted``, a bug)."""
        self.clock.observe(item.now)
        messages = [m.event for m in item.messages]
        if rewind.requested(messages):  # a FAILED run taken back: replayed up to its cut
            self._cache.forget(item.instance_id)
            self.replays += 1
            rewound, episode = rewind.rewind_episode(
                self._app,
                item.instance_id,
                await history(item.instance_id),
                messages,
                item.now,
                retry=item.retry,
                attempt=item.attempt,
            )
            waiting = set(episode.deferred)
            consumed = [m.id for i, m in enumerate(item.messages) if i not in waiting]
            return self._decided(item, episode, rewound, consumed)
        orchestration = self._cache.take(item.instance_id, item.execution_id, item.version)
        if orchestration is None:
            events = await history(item.instance_id) if item.version else []
            self.replays += 1 if item.version else 0
            orchestration = self._new(item, events)
        try:
            episode = orchestration.apply(messages, item.now)
        except BaseException:
            orchestration.close()
            raise
        deferred = set(episode.deferred)
        consumed = [m.id for i, m in enumerate(item.messages) if i not in deferred]
        return self._decided(item, episode, orchestration, consumed)

    async def after_completions(
        self,
        done: list[tuple[ActivityWorkItem, str]],
        history: Callable[[str], Awaitable[list[ev.HistoryEvent]]],
    ) -> Decided | None:
        """The next episode of the instance of the completed attempts ``done`` (one instance's,
        in order) with their completions as its only new messages, from the instance's cached
        generator, or else (see ``_cold``) from a replay of ``history``; None when it cannot be
        decided here. The generator is taken from the cache: ``kept`` puts it back,
        ``dropped`` closes it."""
        first = done[0][0]
        orchestration = self._cache.take_current(first.instance_id, first.execution_id)
        cold = orchestration is None
        if orchestration is None:
            orchestration = await self._cold(first, history)
            if orchestration is None:
                return None
        now = self.clock.now()
        item = OrchestrationWorkItem(
            instance_id=first.instance_id,
            name="",  # named in the log lines of a start only
            execution_id=first.execution_id,
            version=orchestration.version,
            status=orchestration.status,
            messages=[],
            now=now,
        )
        # stamped as the interpreter records them (seq from its version), so it takes them as
        # they are instead of copying each
        version = orchestration.version
        completions: list[ev.HistoryEvent] = [
            ev.ActivityCompleted(seq=version + i, timestamp=now, task_id=attempt.task_id, result=r)
            for i, (attempt, r) in enumerate(done)
        ]
        decided = self._speculate(item, orchestration, completions)
        if cold and decided is not None and decided.commit.status is Status.FAILED:
            # the run's retry policy (on the instance row, not read here) may restart it: a
            # claimer decides that
            self.dropped(decided)
            return None
        return decided

    async def _cold(
        self,
        attempt: ActivityWorkItem,
        history: Callable[[str], Awaitable[list[ev.HistoryEvent]]],
    ) -> Orchestration | None:
        """The instance's generator replayed from its history, for a completion here of an
        activity that another worker's episode scheduled (taken from the shared queue). Left
        to a claimer (None) past the run's first ``_COLD_TASKS`` tasks: a wide fan-in whose
        results complete across workers would replay a long history per result, where one
        claim takes them together."""
        if attempt.task_id >= _COLD_TASKS:
            return None
        try:
            events = await history(attempt.instance_id)
        except StoreError:
            return None  # the claimer's read meets it again, and says it
        if not events:
            return None
        self.replays += 1
        try:
            return Orchestration(self._app, attempt.instance_id, events)
        except Exception:  # the claimer's replay meets it again, and reports it
            return None

    def first(self, new: NewInstance) -> Decided | None:
        """The first episode of an instance a client of this process starts (None when this
        worker cannot decide it here: the instance is then created for any claimer)."""
        if new.name not in self._app.orchestrators:
            return None
        now = self.clock.now()
        item = OrchestrationWorkItem(
            instance_id=new.instance_id,
            name=new.name,
            execution_id=1,
            version=0,
            status=Status.PENDING,
            messages=[],
            now=now,
            retry=new.retry,
        )
        started = ev.ExecutionStarted(timestamp=now, name=new.name, input=new.input)
        return self._speculate(item, self._new(item, []), [started])

    def kept(self, decided: Decided) -> None:
        """``decided`` was committed: its generator serves the instance's next episode."""
        self._cache.put(decided.commit.execution_id, decided.orchestration)

    def dropped(self, decided: Decided) -> None:
        """``decided`` was not committed: its generator has moved past the stored history."""
        decided.orchestration.close()

    def forget(self, instance_id: str) -> None:
        """Drop the instance's generator (held, or refused): its next episode replays."""
        self._cache.forget(instance_id)

    def clear(self) -> None:
        """Close every cached generator (the worker stops)."""
        self._cache.clear()

    def _new(self, item: OrchestrationWorkItem, history: list[ev.HistoryEvent]) -> Orchestration:
        return Orchestration(
            self._app, item.instance_id, history, retry=item.retry, attempt=item.attempt
        )

    def _speculate(
        self,
        item: OrchestrationWorkItem,
        orchestration: Orchestration,
        messages: list[ev.HistoryEvent],
    ) -> Decided | None:
        """Decide from messages not read from the store; None (the generator closed) when the
        episode would not record them first, in order (it leaves one waiting, or drops one as
        stale), or raises."""
        try:
            episode = orchestration.apply(messages, item.now)
        except Exception:  # the claimer's replay meets it again, and reports it
            orchestration.close()
            return None
        if episode.deferred or not _recorded_first(episode.events, messages):
            orchestration.close()
            return None
        return self._decided(item, episode, orchestration, [])

    def _decided(
        self,
        item: OrchestrationWorkItem,
        episode: Episode,
        orchestration: Orchestration,
        consumed: list[int],
    ) -> Decided:
        commit = commit_of(item, episode, self._worker_id, consumed)
        runnable = sum(
            1
            for action in episode.actions
            if isinstance(action, act.ScheduleActivity) and self._runnable(action)
        )
        return Decided(commit, episode, orchestration, item.name, runnable)


def _recorded_first(events: Sequence[ev.HistoryEvent], messages: Sequence[ev.HistoryEvent]) -> bool:
    """Whether ``events`` begin with ``messages``, in order (same kinds, same task ids)."""
    if len(events) < len(messages):
        return False
    for event, message in zip(events, messages, strict=False):
        if type(event) is not type(message) or getattr(event, "task_id", None) != getattr(
            message, "task_id", None
        ):
            return False
    return True
