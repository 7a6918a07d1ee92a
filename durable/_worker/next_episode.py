"""An episode run inside the transaction that claims its instance (the store's EpisodeRunner).

When a worker completes an activity of an instance whose generator it holds in its cache, the
store claims the instance in the completion's transaction and calls ``NextEpisode.run``: the
episode runs from the cached generator (no history read, no replay) and its commit joins the same
transaction. An activity step then costs one transaction instead of two (complete, then commit),
which halves the fsyncs, or the round trips, on the hot path. A claim does the same for a new
instance's first episode (it needs no history) and for an instance whose generator is cached.

Anything unusual hands the instance back to the worker's ordinary path, which replays and
reports: a cache miss, an episode that raises, a failed sub-orchestration that may retry (its
delay needs a store read).
"""

from __future__ import annotations

from collections.abc import Callable

from .._core.interpreter import Episode, Orchestration
from .._core.registry import App
from .._status import Status
from ..stores.base import ActivityWorkItem, EpisodeCommit, OrchestrationWorkItem
from .episodes import commit_of
from .generator_cache import GeneratorCache


class NextEpisode:
    """The worker's ``EpisodeRunner`` for one activity completion.

    ``take_slots(episode)`` reserves activity slots for the activities the episode schedules
    (how many it got is the eager limit) and ``release_slots(n)`` gives slots back.
    """

    def __init__(
        self,
        app: App,
        cache: GeneratorCache,
        worker_id: str,
        take_slots: Callable[[Episode], int],
        release_slots: Callable[[int], None],
    ) -> None:
        self._app = app
        self._cache = cache
        self._worker_id = worker_id
        self._take_slots = take_slots
        self._release_slots = release_slots
        self._plan: tuple[EpisodeCommit, int] | None = None
        self._taken: Orchestration | None = None
        self.item: OrchestrationWorkItem | None = None
        self.episode: Episode | None = None
        #: the activities claimed with the commit (None: nothing was committed)
        self.eager: list[ActivityWorkItem] | None = None

    def run(self, item: OrchestrationWorkItem) -> tuple[EpisodeCommit, int] | None:
        """See ``EpisodeRunner.run``."""
        if self._plan is not None:
            # the store retried its transaction and the generator has moved on already: the
            # same commit holds if the messages it consumes are all still there
            consumed = set(self._plan[0].consumed)
            return self._plan if consumed <= {m.id for m in item.messages} else None
        if self._taken is not None:  # an earlier run gave up on this generator
            return None
        orchestration = self._cache.take(item.instance_id, item.execution_id, item.version)
        try:
            if orchestration is None and item.version == 0:  # a first episode replays nothing
                orchestration = Orchestration(self._app, item.instance_id, [])
            if orchestration is None:
                return None
            self._taken = orchestration
            episode = orchestration.apply([m.event for m in item.messages], item.now)
        except Exception:  # the worker's own run replays, meets it again, and reports it
            return None
        if episode.status is Status.FAILED and item.retry is not None:
            return None
        self.item, self.episode = item, episode
        self._plan = (commit_of(item, episode, self._worker_id), self._take_slots(episode))
        return self._plan

    def committed(self, eager: list[ActivityWorkItem] | None) -> None:
        """See ``EpisodeRunner.committed``."""
        self.eager = eager

    def settle(self, completed: bool) -> bool:
        """After the store call: True when the episode was committed with the completion.

        ``completed``: the call returned normally. A committed episode keeps its generator in
        the cache and gives back the slots its eager claims did not use; otherwise the
        generator (moved on, or broken) is closed and every slot it took is given back.
        """
        committed = completed and self.eager is not None and self._plan is not None
        slots = self._plan[1] if self._plan is not None else 0
        if committed:
            assert self.eager is not None and self.item is not None and self._taken is not None
            self._release_slots(slots - len(self.eager))
            self._cache.put(self.item.execution_id, self._taken)
            return True
        self._release_slots(slots)
        if self._taken is not None:
            self._taken.close()
        return False
