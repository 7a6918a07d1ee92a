"""The steps of the worker's work: decide an episode and have it committed, run an activity
attempt and record it (with the next episode when it can), hold an instance that cannot go on.

Every step decides first (``episodes``, with no I/O) and then makes one store call to commit;
the store never calls back. ``Worker`` runs the loops that hand these steps their work.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from .. import _faults as faults
from .._core.registry import App
from .._errors import HistoryCorrupted, NonDeterminismError, StoreError, qualified_name
from .._events import ErrorInfo
from .._retry import RetryPolicy
from .._telemetry import TELEMETRY
from ..stores.base import ActivityWorkItem, ClaimSpec, LeaseLost, OrchestrationWorkItem, Store
from . import entities, fault_points, follow_on, handoff, poison, step_log, streams, tracing
from .attempts import AttemptRunner, Outcome, retry_delay, retry_policy
from .episodes import Decided, Episodes
from .heartbeats import Heartbeats
from .slots import Slots
from .store_health import HeldReports

logger = logging.getLogger("durable.worker")

#: how long a non-deterministic or corrupt instance waits before a worker tries it again
_HOLD_SECONDS = 5.0
#: the attempt's span when telemetry is off (reusable: it does nothing)
_NO_SPAN = contextlib.nullcontext()
#: how long a suspect (see ``_isolated``) given back waits before it is claimed again
_SUSPECT_RETRY = 0.2


class Steps:
    """One worker's steps. ``slots``: for episodes, and for attempts; ``store`` gives the open
    store; ``guarded`` awaits a store call, logging a store failure and returning None;
    ``spawn`` runs a step as tracked work."""

    def __init__(
        self,
        app: App,
        spec: ClaimSpec,
        episodes: Episodes,
        slots: tuple[Slots, Slots],
        runner: AttemptRunner,
        store: Callable[[], Store],
        guarded: Callable[[Awaitable[Any]], Awaitable[Any]],
        spawn: Callable[[Callable[[Any], Awaitable[Any]], Any], None],
        *,
        max_episode_attempts: int = 5,
        episode_timeout: float = 60.0,
    ) -> None:
        self.app = app
        self.spec = spec
        self.worker_id = spec.worker_id
        self._episodes = episodes
        self._orch_slots, self._activity_slots = slots
        self._store = store
        self._guarded = guarded
        self._spawn = spawn
        self._runner = runner
        self.max_episode_attempts = max_episode_attempts
        self.episode_timeout = episode_timeout
        #: a suspect's episode is being decided alone (``_isolated``)
        self._isolating = False
        self.heartbeats = Heartbeats(app.serializer)
        #: which held instances' errors were logged at ERROR already
        self._reports = HeldReports()
        #: results waiting for their instance's recorder (see ``_complete``)
        self._completing: dict[str, list[tuple[ActivityWorkItem, str, anyio.Event | None]]] = {}
        #: the entity rows this process created (see ``entities``)
        self.entity_rows = entities.EntityRows()

    @property
    def store(self) -> Store:
        return self._store()

    async def save_details(self, item: ActivityWorkItem, details: str | None) -> None:
        """Store an attempt's heartbeat details (renewing its lease)."""
        await self._guarded(self.store.heartbeat_activity(item, details, self.spec.lease_seconds))

    # -- orchestration episodes ----------------------------------------------------------------

    async def episode_task(self, item: OrchestrationWorkItem) -> None:
        try:
            if item.claims > 1 and not poison.exhausted(item, self.max_episode_attempts):
                await self._isolated(item)
                return
            async with self._episodes.instance_lock(item.instance_id):
                await self._run_episode(item)
        finally:
            self._orch_slots.give_back()

    async def _isolated(self, item: OrchestrationWorkItem) -> None:
        """A suspect: an earlier claim of it never came back, so its episode may have crashed a
        worker, or it was only in flight in a worker that another instance crashed. It is
        decided alone (no other episode claimed or running in this process meanwhile), so a
        crash now counts against it only and a bystander's next claim clears it. One suspect
        at a time: another is given back at once, which takes its claim back."""
        if self._isolating:
            await self._guarded(
                self.store.release_orchestration(
                    item.instance_id, self.worker_id, retry_in=_SUSPECT_RETRY
                )
            )
            return
        self._isolating = True
        taken = 0
        try:
            for _ in range(self._orch_slots.total - 1):  # FIFO: in-flight episodes end first
                await self._orch_slots.take()
                taken += 1
            async with self._episodes.instance_lock(item.instance_id):
                await self._run_episode(item)
        finally:
            self._orch_slots.give_back(taken)
            self._isolating = False

    async def _run_episode(self, item: OrchestrationWorkItem) -> None:
        log = {"instance_id": item.instance_id}
        if item.unreadable is not None:  # a row durable did not write: this instance waits
            await self._hold(
                item, HistoryCorrupted(item.instance_id, item.version, item.unreadable)
            )
            return
        if poison.exhausted(item, self.max_episode_attempts):
            await self._end_poisoned(item)
            return
        faults.reached("after_claim")
        if entities.is_entity(item.name):
            await entities.run_entity_episode(self, item, self._hold)
            return
        await tracing.remember(self.store, item.instance_id)
        started = time.monotonic()
        try:
            decided = await self._episodes.for_claim(item, self.store.get_history)
        except (NonDeterminismError, HistoryCorrupted) as exc:
            await self._hold(item, exc)
            return
        except Exception as exc:
            logger.exception("episode of %s failed unexpectedly", item.instance_id, extra=log)
            await self._hold(item, exc)
            return
        if self.overran(decided, time.monotonic() - started, item.claims):
            return
        limit = self._activity_slots.take_now(decided.runnable)
        try:
            fault_points.before_commit(decided)
            await self.entity_rows.ensure(self.store, decided.commit.actions)
            eager = await self.store.commit_episode(
                decided.commit, eager=self.spec, eager_limit=limit
            )
            faults.reached("episode_after_commit_before_ack")
        except LeaseLost as exc:
            self.settle(decided, limit, None)
            TELEMETRY.lease_expired(kind="orchestration")
            logger.warning(
                "stale lease/version conflict for %s, dropped: %s", item.instance_id, exc, extra=log
            )
            return
        except Exception as exc:  # this instance's commit only: the worker serves the others
            self.settle(decided, limit, None)
            if not isinstance(exc, StoreError):  # a store failure: _hold says it, once per cause
                logger.error("commit of %s failed: %s", item.instance_id, exc, extra=log)
            await self._hold(item, exc)
            return
        except BaseException:
            self.settle(decided, limit, None)
            raise
        self.settle(decided, limit, eager)

    def overran(self, decided: Decided, took: float, claims: int = 0) -> bool:
        """True (``decided`` dropped) when deciding it took longer than ``episode_timeout``.

        Such an episode is not committed. Decided from a claim (``claims``), it counts like a
        crash: the claim stays counted and its lease runs out (``poison``). Decided without one
        (a start here, the episode after a completion), the instance's next episode is left to
        a claim, which counts.
        """
        if took <= self.episode_timeout:
            return False
        self._episodes.dropped(decided)
        instance_id = decided.commit.instance_id
        logger.error(
            "episode of %s ran %.1f s, past the episode timeout (%.1f s): not committed%s",
            instance_id,
            took,
            self.episode_timeout,
            f" (claim {claims}, at most {self.max_episode_attempts})" if claims else "",
            extra={"instance_id": instance_id},
        )
        return True

    async def _end_poisoned(self, item: OrchestrationWorkItem) -> None:
        """Fail an instance whose episodes never came back (``poison``), running none of its
        code."""
        self._episodes.forget(item.instance_id)
        log = {"instance_id": item.instance_id}
        try:
            history = await self.store.get_history(item.instance_id) if item.version else []
            commit = poison.poisoned_end(item, self.worker_id, self.max_episode_attempts, history)
            await self.entity_rows.ensure(self.store, commit.actions)  # its locks are given back
            await self.store.commit_episode(commit)
        except LeaseLost as exc:
            TELEMETRY.lease_expired(kind="orchestration")
            logger.warning(
                "stale lease/version conflict for %s, dropped: %s", item.instance_id, exc, extra=log
            )
            return
        except Exception as exc:
            if not isinstance(exc, StoreError):  # a store failure: _hold says it, once per cause
                logger.error("commit of %s failed: %s", item.instance_id, exc, extra=log)
            await self._hold(item, exc)
            return
        assert commit.error is not None
        logger.error("%s", commit.error.message, extra=log)

    def settle(
        self, decided: Decided, limit: int, eager: list[ActivityWorkItem] | None, own: int = 0
    ) -> None:
        """After the store's answer to ``decided``: None, not committed (its generator is
        dropped, every slot given back: its instance's next episode replays); else committed
        with ``eager`` claimed for us, and the generator kept for the next episode. ``own``:
        one of the ``limit`` slots is the running attempt's, for its follow-on (not taken,
        so not given back here)."""
        if eager is None:
            self._activity_slots.give_back(limit - own)
            self._episodes.dropped(decided)  # taken from the cache when it decided
            return
        self._activity_slots.give_back(limit - own - max(len(eager) - own, 0))
        self._episodes.kept(decided)
        step_log.log_outcome(decided)
        step_log.trace(decided)
        for activity in eager:
            if not follow_on.kept(activity):  # else the task that ran the last one runs it
                self._spawn(self.activity_task, activity)

    async def _hold(self, item: OrchestrationWorkItem, exc: Exception) -> None:
        """Leave the instance RUNNING and untouched, with the error in its status (DESIGN 3)."""
        self._episodes.forget(item.instance_id)
        if self._reports.news(item.instance_id, exc):
            logger.error("%s", exc, extra={"instance_id": item.instance_id})
        else:
            logger.debug("%s", exc, extra={"instance_id": item.instance_id})
        error = ErrorInfo(qualified_name(type(exc)), str(exc))
        await self._guarded(
            self.store.release_orchestration(
                item.instance_id, self.worker_id, retry_in=_HOLD_SECONDS, error=error
            )
        )

    # -- activity attempts ---------------------------------------------------------------------

    async def activity_task(self, item: ActivityWorkItem) -> ActivityWorkItem | None:
        """Run one attempt; the activity leased by the commit of its result, for this task to
        run next (see ``Worker._tracked``), or None."""
        with follow_on.hand() as hand:
            try:
                await self._run_activity(item)
            except BaseException:
                if hand.item is not None:  # stopping: its own task gives it back (or runs it)
                    with contextlib.suppress(RuntimeError):  # stopped: its lease runs out
                        self._spawn(self.activity_task, hand.item)
                raise
            finally:
                if hand.item is None:  # else its slot passes to the follow-on (``_record``)
                    self._activity_slots.give_back()
        return hand.item

    async def _run_activity(self, item: ActivityWorkItem) -> None:
        activity = self.app.activities[item.name]
        policy = retry_policy(activity, item)
        if TELEMETRY.enabled:  # no coroutine per attempt when nothing traces
            await tracing.remember(self.store, item.instance_id)
        attempt = self._runner.start(item)
        self.heartbeats.track(item, attempt)
        try:
            span = (  # no generator-based context manager per attempt when nothing traces
                TELEMETRY.activity(item.name, item.instance_id, item.task_id, item.attempt)
                if TELEMETRY.enabled
                else _NO_SPAN
            )
            with span:
                async with streams.writing(self.store, self.app.serializer, item.instance_id):
                    outcome = await self._runner.run(activity, item, attempt, policy)
        except BaseException:
            with anyio.CancelScope(shield=True):  # shutting down: give the attempt back at once
                await self._guarded(
                    self.store.fail_activity(
                        item, ErrorInfo("durable.WorkerStopped", "worker stopped"), retry_in=0.0
                    )
                )
            raise
        finally:
            self.heartbeats.untrack(item)
        if outcome.result is not None:
            await self._complete(item, outcome.result)
            return
        if outcome.handoff:
            await self._hand_off(item, attempt, policy)
            return
        await self.heartbeats.flush(item, attempt, self.save_details)  # the next attempt resumes
        await self._fail(item, outcome, policy)

    async def _complete(self, item: ActivityWorkItem, result: str) -> None:
        """Record the result with the instance's next episode, decided first (see episodes).

        The results of one instance are recorded by one task at a time: those that arrive
        meanwhile (a fan-in) wait, and go together in the next store call with one episode.
        """
        if not self.spec.orchestrators:  # nothing to decide here: the claimers do it
            step_log.stale(item, await self._guarded(self.store.complete_activity(item, result)))
            return
        queue = self._completing.get(item.instance_id)
        if queue is not None:  # a recorder of this instance runs: it takes this one next
            recorded = anyio.Event()
            queue.append((item, result, recorded))
            await recorded.wait()
            return
        # the recorder's own result needs no event: it waits for nobody
        queue = self._completing[item.instance_id] = [(item, result, None)]
        try:
            while queue:
                batch = list(queue)
                queue.clear()
                try:
                    async with self._episodes.instance_lock(item.instance_id):
                        await self._record([(attempt, value) for attempt, value, _ in batch])
                finally:
                    for *_, done in batch:
                        if done is not None:
                            done.set()
        finally:
            del self._completing[item.instance_id]
            for *_, done in queue:  # left by a failure: their leases run out, they run again
                if done is not None:
                    done.set()

    async def _record(self, done: list[tuple[ActivityWorkItem, str]]) -> None:
        # A later attempt may follow a crash in the episode decided after the first one: its
        # result goes to the inbox alone, so that the next episode runs from a counted claim
        # (``poison``) and a crash there cannot make the activity run again and again.
        retried = any(attempt.attempt > 1 for attempt, _ in done)
        started = time.monotonic()
        history = self.store.get_history
        decided = None if retried else await self._episodes.after_completions(done, history)
        if decided is not None and self.overran(decided, time.monotonic() - started):
            decided = None
        # this attempt's own slot can serve the first activity leased back (its follow-on):
        # taking a second slot for it fails in a worker whose slots are all busy, and the
        # sequence then went through the shared queue (and to another worker, cold)
        own = int(decided is not None and decided.runnable > 0 and follow_on.free())
        more_slots = 0 if decided is None else decided.runnable - own
        limit = own + self._activity_slots.take_now(more_slots)
        then = None if decided is None else decided.commit
        (item, result), more = done[0], done[1:]
        faults.reached("activity_done_before_commit")
        if decided is not None:
            fault_points.before_commit(decided)
        try:
            if decided is not None:
                await self.entity_rows.ensure(self.store, decided.commit.actions)
            answer = await self._guarded(
                self.store.complete_activity(
                    item, result, more=more, then=then, eager=self.spec, eager_limit=limit
                )
            )
        except Exception as exc:  # the episode was refused: the results go to the inbox alone
            if decided is None:
                raise
            self.settle(decided, limit, None, own)
            logger.error(
                "next episode of %s refused: %s", item.instance_id, exc, extra=step_log.fields(item)
            )
            step_log.stale(
                item, await self._guarded(self.store.complete_activity(item, result, more=more))
            )
            return
        except BaseException:
            if decided is not None:
                self.settle(decided, limit, None, own)
            raise
        step_log.stale(item, answer)
        if decided is not None:
            self.settle(decided, limit, None if answer is None else answer[1], own)

    async def _hand_off(self, item: ActivityWorkItem, attempt: Any, policy: RetryPolicy) -> None:
        """The activity returned ``complete_later()``: its token's holder has the attempt now,
        until what is left of its timeout or its heartbeat timeout (see ``handoff``)."""
        seconds = handoff.deadline(item, policy, attempt.started)
        held = await self._guarded(self.store.hand_off_activity(item, attempt.token.owner, seconds))
        if held is False:
            step_log.stale(item, (False, None))

    async def _fail(self, item: ActivityWorkItem, outcome: Outcome, policy: RetryPolicy) -> None:
        assert outcome.error is not None
        retry_in = retry_delay(policy, outcome, item, now=self._episodes.clock.now())
        log = step_log.fields(item)
        if retry_in is None:
            logger.warning(
                "activity %s failed for good after %s: %s",
                item.name,
                step_log.attempts(item.attempt),
                outcome.error.message,
                extra=log,
            )
        else:
            logger.info(
                "activity %s attempt %d failed, retrying in %.2f s: %s",
                item.name,
                item.attempt,
                retry_in,
                outcome.error.message,
                extra=log,
            )
        recorded = await self._guarded(
            self.store.fail_activity(item, outcome.error, retry_in=retry_in)
        )
        step_log.stale(item, (recorded, None))
