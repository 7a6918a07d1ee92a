"""Worker: claim -> interpret -> commit, for orchestration episodes and activity attempts.

A thin async shell around the store and the pure interpreter. Live generators are kept in a
bounded LRU so that the next episode of a cached instance costs O(1); a miss replays the
history. The hot path is one transaction per step: an activity's completion claims its instance,
runs the next episode from the cached generator and commits it in the same transaction (see
``_next_episode``), as does the claim of a new instance for its first episode; and a commit
claims the activities it scheduled for this worker (eager dispatch).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from .. import _actions as act
from .._core.interpreter import Episode, Orchestration
from .._core.registry import App
from .._errors import (
    HistoryCorrupted,
    NonDeterminismError,
    SerializationError,
    StoreError,
    qualified_name,
)
from .._events import ErrorInfo
from .._retry import RetryPolicy
from .._status import Status
from ..stores import open_store
from ..stores.base import (
    ActivityWorkItem,
    ClaimSpec,
    LeaseLost,
    OrchestrationWorkItem,
    Store,
    WorkKind,
)
from .attempts import AttemptRunner, Outcome, _Attempt, retry_delay, retry_policy
from .claim_gate import ClaimGate
from .episodes import as_retry, commit_of
from .generator_cache import GeneratorCache
from .next_episode import NextEpisode

logger = logging.getLogger("durable.worker")

#: how long a non-deterministic or corrupt instance waits before a worker tries it again
_HOLD_SECONDS = 5.0


class Worker:
    """Runs orchestrations and activities from a store until stopped.

    Use ``async with Worker(app, "sqlite:///app.db"):`` to run it in the background of a block,
    or ``await worker.run()`` to run it in the foreground (``await worker.stop()`` ends it).

    Args:
        app: the registry of orchestrators and activities this worker can run.
        store: a store URL or an open store object (then the caller closes it).
        queues: the activity queues this worker serves.
        max_concurrent_activities: attempts running at once (sync ones share a thread pool
            of the same size).
        max_concurrent_orchestrations: episodes running at once.
        lease_seconds: how long claimed work stays ours without renewal (renewed every third).
        poll_interval: the longest idle wait between claims when no wake-up arrives (other
            processes sharing a SQLite file are noticed this way).
        cache_size: live generators kept in memory (0 replays every episode from history).
        shutdown_grace: seconds in-flight work may take to finish on stop before it is released.
    """

    def __init__(
        self,
        app: App,
        store: str | Store,
        *,
        queues: Iterable[str] = ("default",),
        max_concurrent_activities: int = 64,
        max_concurrent_orchestrations: int = 64,
        lease_seconds: float = 30.0,
        poll_interval: float = 0.5,
        cache_size: int = 1000,
        shutdown_grace: float = 10.0,
    ) -> None:
        self.app = app
        self._store_arg = store
        self._store: Store | None = None
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.spec = ClaimSpec(
            worker_id=self.worker_id,
            lease_seconds=lease_seconds,
            orchestrators=frozenset(app.orchestrators),
            activities=frozenset(app.activities),
            queues=frozenset(queues),
        )
        self.poll_interval = poll_interval
        self.shutdown_grace = shutdown_grace
        self._cache = GeneratorCache(cache_size)
        self._orch_slots = anyio.Semaphore(max_concurrent_orchestrations)
        self._activity_slots = anyio.Semaphore(max_concurrent_activities)
        self._runner = AttemptRunner(app.serializer, max_concurrent_activities)
        self._attempts: dict[int, tuple[ActivityWorkItem, _Attempt]] = {}
        self._held_instances: Counter[str] = Counter()
        self._held_activities: set[int] = set()
        self._dispatch = anyio.CancelScope()
        self._inflight = 0
        self._drained = anyio.Event()
        self._task: asyncio.Task[None] | None = None
        #: (instance id, error) already logged at ERROR, so a held instance is reported once
        self._reported: set[tuple[str, str]] = set()
        self._work: TaskGroup | None = None

    # -- life cycle ----------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The open store (only while running)."""
        if self._store is None:
            raise StoreError("the worker is not running")
        return self._store

    async def __aenter__(self) -> Worker:
        # The worker runs in a task of its own, not in a task group held open across
        # __aenter__/__aexit__: those may run in different tasks (pytest-asyncio fixtures do).
        ready = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(
            self._run_started(task_status=_Ready(ready))
        )
        waiter = asyncio.ensure_future(ready.wait())
        await asyncio.wait({self._task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._task.done():
            self._task.result()  # the start failed (e.g. the store would not open): raise it
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
        if self._task is not None:
            await self._task

    async def run(self) -> None:
        """Run until ``stop()``: claim work, run it, renew leases, release on shutdown."""
        await self._run_started()

    async def stop(self) -> None:
        """Stop claiming, let in-flight work finish (up to ``shutdown_grace``), release the rest."""
        self._dispatch.cancel()

    async def _run_started(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        async with self._opened_store() as store, anyio.create_task_group() as outer:
            self._store = store
            outer.start_soon(self._lease_loop)
            async with anyio.create_task_group() as work:
                self._work = work
                starts = _StartTaker(self)
                withdraw = store.take_starts(starts)
                try:
                    await self._dispatching(store, task_status)
                finally:
                    withdraw()
                    starts.closed = True
                with anyio.move_on_after(self.shutdown_grace):
                    if self._inflight:
                        await self._drained.wait()
                work.cancel_scope.cancel()
            outer.cancel_scope.cancel()
            self._cache.clear()
            logger.info("worker %s stopped", self.worker_id)

    async def _dispatching(self, store: Store, task_status: TaskStatus[None]) -> None:
        """Claim work until ``stop()``: the claim loops of each kind, and the maintenance."""
        with self._dispatch:
            async with anyio.create_task_group() as loops:
                # several claimers, so that the store's group commit batches claims
                episodes, activities = ClaimGate(), ClaimGate()
                for _ in range(store.claim_concurrency):
                    loops.start_soon(
                        self._claim_loop,
                        "orchestrations",
                        episodes,
                        self._orch_slots,
                        self._claim_episode,
                        self._episode_task,
                    )
                    loops.start_soon(
                        self._claim_loop,
                        "activities",
                        activities,
                        self._activity_slots,
                        store.claim_activity,
                        self._activity_task,
                    )
                loops.start_soon(self._maintenance_loop)
                logger.info("worker %s started on %s", self.worker_id, store.display_url)
                task_status.started()

    @asynccontextmanager
    async def _opened_store(self) -> AsyncIterator[Store]:
        if not isinstance(self._store_arg, str):
            yield self._store_arg
            return
        store = open_store(self._store_arg)
        await store.open()
        try:
            yield store
        finally:
            with anyio.CancelScope(shield=True):
                await store.close()

    # -- loops ---------------------------------------------------------------------------------

    async def _claim_loop(
        self, kind: WorkKind, gate: ClaimGate, slots: anyio.Semaphore, claim: Any, run: Any
    ) -> None:
        """Take a slot, claim one item of work and run it; wait for work when there is none."""
        wait_for_work = partial(self._wait_for_work, kind)
        streak = 0
        while True:
            await slots.acquire()
            item = await self._guarded(claim(self.spec))
            if item is None:
                slots.release()
                streak = 0
                await gate.idle(wait_for_work)
                continue
            streak += 1
            gate.found(streak)
            if item is _RAN:  # claimed and committed in one go: nothing left to run
                slots.release()
                continue
            self._spawn(run, item)

    async def _claim_episode(self, spec: ClaimSpec) -> OrchestrationWorkItem | object | None:
        """Claim an instance and, when its generator is at hand (or it is new), run and commit
        its episode in the same transaction (``_RAN``); else the work item to run."""
        runner = self._next_episode()
        try:
            item = await self.store.claim_orchestration(spec, then_run=runner)
        except BaseException:
            runner.settle(completed=False)
            raise
        if item is not None and runner.settle(completed=True):
            self._ran(runner)
            return _RAN
        return item

    async def _wait_for_work(self, kind: WorkKind) -> None:
        await self._guarded(self.store.wait_for_work(self.poll_interval, kind))

    async def _lease_loop(self) -> None:
        interval = self.spec.lease_seconds / 3
        while True:
            await anyio.sleep(interval)
            await self._guarded(
                self.store.renew_leases(
                    self.worker_id,
                    self.spec.lease_seconds,
                    instances=list(self._held_instances),
                    activities=list(self._held_activities),
                )
            )
            for item, attempt in list(self._attempts.values()):
                await self._flush_heartbeat(item, attempt)

    async def _flush_heartbeat(self, item: ActivityWorkItem, attempt: _Attempt) -> None:
        """Store the attempt's latest heartbeat details, if it recorded new ones."""
        if not attempt.details_pending:
            return
        attempt.details_pending = False
        try:
            details = self.app.serializer.encode(attempt.details, path="heartbeat details")
        except SerializationError as exc:
            logger.warning(
                "heartbeat details dropped: %s", exc, extra={"instance_id": item.instance_id}
            )
            return
        await self._guarded(self.store.heartbeat_activity(item, details, self.spec.lease_seconds))

    async def _maintenance_loop(self) -> None:
        while True:
            await self._guarded(self.store.expire_unstarted())
            await anyio.sleep(max(self.poll_interval, 1.0))

    async def _guarded(self, call: Any) -> Any:
        """Await a store call; a store failure is logged and backed off, never fatal."""
        try:
            return await call
        except StoreError as exc:
            logger.error("store error (retrying in %.1f s): %s", self.poll_interval, exc)
            await anyio.sleep(self.poll_interval)
            return None

    def _spawn(self, fn: Any, item: Any) -> None:
        """Run ``fn(item)`` as tracked work; ``RuntimeError`` once the worker has stopped."""
        assert self._work is not None
        self._work.start_soon(self._tracked, fn, item)  # it runs after this returns
        self._inflight += 1
        if self._drained.is_set():
            self._drained = anyio.Event()

    async def _tracked(self, fn: Any, item: Any) -> None:
        # what the lease loop renews: only work this worker is running
        if isinstance(item, ActivityWorkItem):
            self._held_activities.add(item.id)
        else:
            self._held_instances[item.instance_id] += 1
        try:
            await fn(item)
        finally:
            if isinstance(item, ActivityWorkItem):
                self._held_activities.discard(item.id)
            else:
                self._held_instances[item.instance_id] -= 1
                if self._held_instances[item.instance_id] <= 0:
                    del self._held_instances[item.instance_id]
            self._inflight -= 1
            if self._inflight == 0:
                self._drained.set()

    # -- orchestration episodes ----------------------------------------------------------------

    async def _episode_task(self, item: OrchestrationWorkItem) -> None:
        try:
            await self._run_episode(item)
        finally:
            self._orch_slots.release()

    async def _run_episode(self, item: OrchestrationWorkItem) -> None:
        log = {"instance_id": item.instance_id}
        try:
            orchestration = await self._orchestration_for(item)
            episode = orchestration.apply([m.event for m in item.messages], item.now)
            if episode.status is Status.FAILED and item.retry is not None:
                episode = await self._retried(item, episode)
        except (NonDeterminismError, HistoryCorrupted) as exc:
            await self._hold(item, exc)
            return
        except Exception as exc:
            logger.exception("episode of %s failed unexpectedly", item.instance_id, extra=log)
            await self._hold(item, exc)
            return
        eager_slots = self._take_activity_slots(episode)
        try:
            eager = await self.store.commit_episode(
                commit_of(item, episode, self.worker_id), eager=self.spec, eager_limit=eager_slots
            )
        except LeaseLost as exc:
            self._release_activity_slots(eager_slots)
            self._cache.forget(item.instance_id)
            logger.warning(
                "stale lease/version conflict for %s, dropped: %s", item.instance_id, exc, extra=log
            )
            return
        except BaseException:
            self._release_activity_slots(eager_slots)
            self._cache.forget(item.instance_id)
            raise
        self._release_activity_slots(eager_slots - len(eager))
        self._cache.put(item.execution_id, orchestration)
        _log_outcome(item, episode)
        for activity in eager:
            self._spawn(self._activity_task, activity)

    async def _retried(self, item: OrchestrationWorkItem, episode: Episode) -> Episode:
        """A failed sub-orchestration whose retry policy allows it runs again, later."""
        assert item.retry is not None and episode.error is not None
        policy = RetryPolicy.from_json(item.retry)
        delay = policy.next_delay(item.attempt)
        record = await self.store.get_instance(item.instance_id)
        if delay is None or record is None or not policy.is_retryable(episode.error.error_type):
            return episode
        logger.info(
            "sub-orchestration %s failed (attempt %d), retrying in %.2f s: %s",
            item.instance_id,
            item.attempt,
            delay.total_seconds(),
            episode.error.message,
            extra={"instance_id": item.instance_id},
        )
        return as_retry(episode, record.input, delay, item.attempt + 1)

    async def _orchestration_for(self, item: OrchestrationWorkItem) -> Orchestration:
        """The cached generator when it is exactly at the stored version, else a replay."""
        cached = self._cache.take(item.instance_id, item.execution_id, item.version)
        if cached is not None:
            return cached
        history = await self.store.get_history(item.instance_id) if item.version else []
        return Orchestration(self.app, item.instance_id, history)

    async def _hold(self, item: OrchestrationWorkItem, exc: Exception) -> None:
        """Leave the instance RUNNING and untouched, with the error in its status (DESIGN 3)."""
        self._cache.forget(item.instance_id)
        report = (item.instance_id, str(exc))
        if report not in self._reported:  # once at ERROR; the retries of a held instance repeat it
            self._reported.add(report)
            logger.error("%s", exc, extra={"instance_id": item.instance_id})
        else:
            logger.debug("%s", exc, extra={"instance_id": item.instance_id})
        error = ErrorInfo(qualified_name(type(exc)), str(exc))
        await self._guarded(
            self.store.release_orchestration(
                item.instance_id, self.worker_id, retry_in=_HOLD_SECONDS, error=error
            )
        )

    def _take_activity_slots(self, episode: Episode) -> int:
        wanted = sum(
            1
            for action in episode.actions
            if isinstance(action, act.ScheduleActivity)
            and action.name in self.spec.activities
            and action.options.queue in self.spec.queues
        )
        taken = 0
        while taken < wanted:
            try:
                self._activity_slots.acquire_nowait()
            except anyio.WouldBlock:
                break
            taken += 1
        return taken

    def _release_activity_slots(self, count: int) -> None:
        for _ in range(count):
            self._activity_slots.release()

    # -- activity attempts ---------------------------------------------------------------------

    async def _activity_task(self, item: ActivityWorkItem) -> None:
        then: OrchestrationWorkItem | None = None
        try:
            then = await self._run_activity(item)
        finally:
            self._activity_slots.release()
        if then is not None:
            self._spawn(self._episode_task, then)

    async def _run_activity(self, item: ActivityWorkItem) -> OrchestrationWorkItem | None:
        activity = self.app.activities[item.name]
        policy = retry_policy(activity, item)
        attempt = self._runner.start(item)
        self._attempts[item.id] = (item, attempt)
        log = {"instance_id": item.instance_id, "activity": item.name}
        try:
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
            self._attempts.pop(item.id, None)
        if outcome.error is not None:  # the next attempt resumes from the last details
            await self._flush_heartbeat(item, attempt)
        then_claim = self.spec if self._take_orch_slot() else None
        runner = None
        if then_claim is not None and outcome.result is not None:
            runner = self._next_episode()
        try:
            _, then = await self._record(item, outcome, policy, then_claim, runner, log)
        except BaseException:
            if runner is not None:
                runner.settle(completed=False)
            if then_claim is not None:
                self._orch_slots.release()
            raise
        if runner is not None and runner.settle(completed=True):
            self._ran(runner)
        if then is None and then_claim is not None:
            self._orch_slots.release()
        return then

    async def _record(
        self,
        item: ActivityWorkItem,
        outcome: Outcome,
        policy: Any,
        then_claim: ClaimSpec | None,
        runner: NextEpisode | None,
        log: dict[str, Any],
    ) -> tuple[bool, OrchestrationWorkItem | None]:
        if outcome.result is not None:
            result = await self._guarded(
                self.store.complete_activity(
                    item, outcome.result, then_claim=then_claim, then_run=runner
                )
            )
            if result is None and runner is not None:
                runner.committed(None)  # the call failed: its transaction committed nothing
            return result or (False, None)
        assert outcome.error is not None
        retry_in = retry_delay(policy, outcome, item.attempt)
        if retry_in is None:
            logger.warning(
                "activity %s failed for good after %d attempts: %s",
                item.name,
                item.attempt,
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
        result = await self._guarded(
            self.store.fail_activity(item, outcome.error, retry_in=retry_in, then_claim=then_claim)
        )
        return result or (False, None)

    def _next_episode(self) -> NextEpisode:
        """A runner for the episode of an instance a claim or a completion is about to take."""
        return NextEpisode(
            self.app,
            self._cache,
            self.worker_id,
            self._take_activity_slots,
            self._release_activity_slots,
        )

    def _ran(self, runner: NextEpisode) -> None:
        """``runner``'s episode was committed with its claim: log it, start its activities."""
        assert runner.item is not None and runner.episode is not None
        _log_outcome(runner.item, runner.episode)
        for eager in runner.eager or ():
            self._spawn(self._activity_task, eager)

    def _take_orch_slot(self) -> bool:
        try:
            self._orch_slots.acquire_nowait()
        except anyio.WouldBlock:
            return False
        return True


class _StartTaker:
    """The worker's side of ``Store.take_starts``: an instance started in this process that
    the worker can run now is leased to it as it is created, and its first episode runs at
    once (no claim, no wake-up)."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        self._loop = asyncio.get_running_loop()
        #: the worker stopped taking work
        self.closed = False

    def take(self, name: str) -> ClaimSpec | None:
        """See ``StartTaker.take``: with a free episode slot, held until ``taken``."""
        worker = self._worker
        if self.closed or name not in worker.spec.orchestrators:
            return None
        if asyncio.get_running_loop() is not self._loop:  # a client on another event loop
            return None
        try:
            worker._orch_slots.acquire_nowait()
        except anyio.WouldBlock:
            return None
        return worker.spec

    def taken(self, item: OrchestrationWorkItem | None) -> None:
        """See ``StartTaker.taken``: run the episode like a claimed one."""
        worker = self._worker
        if item is not None:
            try:
                worker._spawn(worker._episode_task, item)
                return
            except RuntimeError:  # the worker has stopped: its lease runs out, another claims it
                pass
        worker._orch_slots.release()


def _log_outcome(item: OrchestrationWorkItem, episode: Episode) -> None:
    """One line when an instance starts or ends (its episodes in between are not news)."""
    log = {"instance_id": item.instance_id}
    if item.version == 0 and not episode.status.is_terminal:
        logger.info("instance %s (%s) started", item.instance_id, item.name, extra=log)
    if episode.status is Status.FAILED:
        message = episode.error.message if episode.error is not None else ""
        logger.warning("instance %s failed: %s", item.instance_id, message, extra=log)
    elif episode.status.is_terminal or episode.status is Status.CONTINUED_AS_NEW:
        status = episode.status.value.lower().replace("_", " ")
        logger.info("instance %s %s", item.instance_id, status, extra=log)


#: what ``_claim_episode`` returns for an instance whose episode it committed with the claim
_RAN = object()


class _Ready(TaskStatus[None]):
    """Tells ``__aenter__`` that the worker is claiming work."""

    def __init__(self, event: asyncio.Event) -> None:
        self._event = event

    def started(self, value: None = None) -> None:
        self._event.set()
