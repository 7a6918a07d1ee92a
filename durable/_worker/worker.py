"""Worker: claim work, decide, then ask the store to commit; for episodes and activity attempts.

A thin async shell around the store and the pure interpreter (``episodes`` decides, the store
commits, and the store never calls back). Live generators are kept in a bounded LRU so that
the next episode of a cached instance costs O(1); a miss replays the history. The hot path is
one transaction per step: when an activity completes, the instance's next episode is decided
from its cached generator and handed to the store with the completion, which commits both if
the instance is where the generator is; a start made in this process commits with its first
episode (``local``); and a commit claims the activities it scheduled for this worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from .. import _actions as act
from .. import _faults as faults
from .._core.registry import App
from .._entities import entity_instance_name
from .._errors import StoreError
from .._telemetry import TELEMETRY
from ..stores import open_store
from ..stores.base import (
    ActivityWorkItem,
    ClaimSpec,
    NewInstance,
    Store,
    WorkKind,
)
from . import announce, flow, local, watchdog
from .attempts import AttemptRunner
from .claim_gate import EPISODE_CLAIM_BATCH, ClaimGate, listed
from .episodes import Episodes
from .processes import processes_for
from .slots import Slots
from .steps import Steps
from .store_health import StoreHealth

logger = logging.getLogger("durable.worker")


class Worker:
    """Runs orchestrations and activities from a store until stopped.

    Use ``async with Worker(app, "sqlite:///app.db"):`` to run it in the background of a block,
    or ``await worker.run()`` to run it in the foreground (``await worker.stop()`` ends it).

    Args:
        app: the registry of orchestrators and activities this worker can run.
        store: a store URL or an open store object (then the caller closes it).
        queues: the activity queues this worker serves (default: ``"default"`` and the queues
            declared with ``app.queue``).
        max_concurrent_activities: attempts running at once (sync ones share a thread pool
            of the same size).
        max_concurrent_orchestrations: episodes running at once.
        max_processes: processes of the pool that runs ``executor="process"`` activities
            (default: the number of CPUs); started on first use, only if the app has such
            activities.
        lease_seconds: how long claimed work stays ours without renewal (renewed every third).
        poll_interval: the longest idle wait between claims when no wake-up arrives (other
            processes sharing a SQLite file are noticed this way).
        cache_size: live generators kept in memory (0 replays every episode from history).
        shutdown_grace: seconds in-flight work may take to finish on stop before it is released.
        max_episode_attempts: episodes of one instance that may crash a worker (or run past
            ``episode_timeout``) in a row before the instance ends FAILED (DESIGN 4a).
        episode_timeout: seconds an episode may run; one that runs longer is not committed and
            counts as a crashed attempt (the event loop is blocked meanwhile: a watchdog warns).
        clock: the local clock (unix seconds) that episodes decided without a claim are stamped
            by, offset to the store's time as last observed; default ``time.time`` (skewed by the
            test-only DURABLE_CLOCK_OFFSET).
            ``durable.testing`` passes its virtual clock (the one its store runs on).
    """

    def __init__(
        self,
        app: App,
        store: str | Store,
        *,
        queues: Iterable[str] | None = None,
        max_concurrent_activities: int = 64,
        max_concurrent_orchestrations: int = 64,
        lease_seconds: float = 30.0,
        poll_interval: float = 0.5,
        cache_size: int = 1000,
        shutdown_grace: float = 10.0,
        max_episode_attempts: int = 5,
        episode_timeout: float = 60.0,
        clock: Callable[[], float] = faults.wall_clock,
        max_processes: int | None = None,
    ) -> None:
        self.app = app
        self._processes = processes_for(app, max_processes)
        self._store_arg = store
        self._store: Store | None = None
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.spec = ClaimSpec(
            worker_id=self.worker_id,
            lease_seconds=lease_seconds,
            orchestrators=frozenset(app.orchestrators)
            | {entity_instance_name(name) for name in app.entities},
            activities=frozenset(app.activities),
            queues=frozenset(("default", *app.queues) if queues is None else queues),
        )
        #: declared queues (``app.queue``) are claimed through the store's limited claim only,
        #: so the general claims and a commit's eager claims leave them out (``flow``)
        self._queued = flow.declared_queues(app, self.spec.queues)
        self._claim_spec = replace(
            self.spec, queues=self.spec.queues - {limits.name for limits in self._queued}
        )
        self.poll_interval = poll_interval
        self._health = StoreHealth(poll_interval)
        self.shutdown_grace = shutdown_grace
        self._episodes = Episodes(app, self.worker_id, cache_size, self._runnable, clock)
        self._orch_slots = Slots(max_concurrent_orchestrations)
        self._activity_slots = Slots(max_concurrent_activities)
        self._steps = Steps(
            app,
            self._claim_spec,
            self._episodes,
            (self._orch_slots, self._activity_slots),
            AttemptRunner(app.serializer, max_concurrent_activities, self._processes),
            lambda: self.store,
            self._guarded,
            self._spawn,
            max_episode_attempts=max_episode_attempts,
            episode_timeout=episode_timeout,
        )
        self._held_instances: Counter[str] = Counter()
        self._held_activities: set[int] = set()
        self._dispatch = anyio.CancelScope()
        self._inflight = 0
        self._drained = anyio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._work: TaskGroup | None = None

    # -- life cycle ----------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The open store (only while running)."""
        if self._store is None:
            raise StoreError("the worker is not running")
        return self._store

    @property
    def replays(self) -> int:
        """Episodes this worker decided by replaying a history (its cache did not hold the
        generator): a measure of the cache's work, reported by the benchmarks."""
        return self._episodes.replays

    async def __aenter__(self) -> Worker:
        # The worker runs in a task of its own, not in a task group held open across
        # __aenter__/__aexit__: those may run in different tasks (pytest-asyncio fixtures do),
        # and a cancel scope must be left in the task that entered it. Inside that task, all
        # of its work is structured (``_run_started``'s task groups).
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
            self._loop = asyncio.get_running_loop()
            outer.start_soon(self._lease_loop)
            outer.start_soon(watchdog.watch_loop)
            await outer.start(announce.announcing, store, self.spec)
            async with anyio.create_task_group() as work:
                self._work = work
                withdraw = local.register(store, self)
                try:
                    await self._dispatching(store, task_status)
                finally:
                    withdraw()
                    self._loop = None
                with anyio.move_on_after(self.shutdown_grace):
                    if self._inflight:
                        await self._drained.wait()
                work.cancel_scope.cancel()
            outer.cancel_scope.cancel()
            self._episodes.clear()
            if self._processes is not None:
                self._processes.close()
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
                        store.claim_orchestrations,
                        self._steps.episode_task,
                        EPISODE_CLAIM_BATCH,
                    )
                    loops.start_soon(
                        self._claim_loop,
                        "activities",
                        activities,
                        self._activity_slots,
                        listed(store.claim_activity),
                        self._steps.activity_task,
                    )
                if self._queued:
                    loops.start_soon(
                        self._claim_loop,
                        "activities",
                        ClaimGate(),
                        self._activity_slots,
                        listed(lambda spec: store.claim_queued_activity(spec, self._queued)),
                        self._steps.activity_task,
                        1,
                        True,
                    )
                if self.app.schedules:  # recorded before the worker counts as started
                    await self._guarded(flow.register_schedules(store, self.app))
                    loops.start_soon(self._schedule_loop)
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
            # a damaged file is said at start (SQLite; an optional method of a store)
            check = getattr(store, "check_integrity", None)
            if check is not None:
                await check()
            yield store
        finally:
            with anyio.CancelScope(shield=True):
                await store.close()

    # -- loops ---------------------------------------------------------------------------------

    async def _claim_loop(
        self,
        kind: WorkKind,
        gate: ClaimGate,
        slots: Slots,
        claim: Callable[[ClaimSpec, int], Awaitable[list[Any]]],
        run: Callable[[Any], Awaitable[Any]],
        batch: int = 1,
        limited: bool = False,
    ) -> None:
        """Take a slot (and up to ``batch`` - 1 more that are free), claim as many items of work
        and run them; wait for work when there is none (``limited``: on declared queues, whose
        limits lift without a wake-up)."""
        streak = 0
        while True:
            await slots.take()
            taken = 1 + slots.take_now(batch - 1)
            try:
                # shielded: a claim that committed must reach _spawn even when stop() came
                # meanwhile; cancelled, its item stayed leased to a worker that had exited 0,
                # and waited out the whole lease (C3, 60 s leases)
                with anyio.CancelScope(shield=True):
                    items = await claim(self._claim_spec, taken)
            except StoreError as exc:
                await anyio.sleep(self._health.failed(exc))
                items = []
            else:
                self._health.succeeded()
            slots.give_back(taken - len(items))
            if not items:
                streak = 0
                await gate.idle(lambda: self._wait_for_work(kind, limited))
                continue
            streak += 1
            gate.found(streak)
            for item in items:
                self._spawn(run, item)

    async def _wait_for_work(self, kind: WorkKind, limited: bool = False) -> None:
        timeout = min(self.poll_interval, flow.QUEUED_LOOK_AGAIN) if limited else self.poll_interval
        await self._guarded(self.store.wait_for_work(timeout, kind))

    async def _schedule_loop(self) -> None:
        """Start the app's schedules' due slots, looking again at the next slot (or sooner)."""
        while True:
            wait = await self._guarded(flow.start_due_slots(self.store, self.app))
            timeout = self.poll_interval if wait is None else min(wait, self.poll_interval)
            await self._guarded(self.store.wait_for_work(max(timeout, 0.01), "orchestrations"))

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
            await self._steps.heartbeats.flush_all(self._steps.save_details)

    async def _maintenance_loop(self) -> None:
        while True:
            await self._guarded(self.store.expire_unstarted())
            if TELEMETRY.measuring:  # the durable.queue.depth gauge, for the queues served here
                depths = await self._guarded(self.store.queue_depths(self.spec.queues))
                for queue, depth in (depths or {}).items():
                    TELEMETRY.queue_depth(queue, depth)
            await anyio.sleep(max(self.poll_interval, 1.0))

    async def _guarded(self, call: Awaitable[Any]) -> Any:
        """Await a store call; a store failure is logged and backed off, never fatal."""
        try:
            result = await call
        except StoreError as exc:
            await anyio.sleep(self._health.failed(exc))
            return None
        self._health.succeeded()
        return result

    def _spawn(self, fn: Callable[[Any], Awaitable[Any]], item: Any) -> None:
        """Run ``fn(item)`` as tracked work; ``RuntimeError`` once the worker has stopped."""
        assert self._work is not None
        self._work.start_soon(self._tracked, fn, item)  # it runs after this returns
        self._inflight += 1
        if self._drained.is_set():
            self._drained = anyio.Event()

    async def _tracked(self, fn: Callable[[Any], Awaitable[Any]], item: Any) -> None:
        # what the lease loop renews: only work this worker is running
        activity = isinstance(item, ActivityWorkItem)
        if activity:
            self._held_activities.add(item.id)
        else:
            self._held_instances[item.instance_id] += 1
        try:
            # an activity task may hand back the next activity its result's commit leased
            while (follow_on := await fn(item)) is not None:
                self._held_activities.add(follow_on.id)
                self._held_activities.discard(item.id)
                item = follow_on
        finally:
            if activity:
                self._held_activities.discard(item.id)
            else:
                self._held_instances[item.instance_id] -= 1
                if self._held_instances[item.instance_id] <= 0:
                    del self._held_instances[item.instance_id]
            self._inflight -= 1
            if self._inflight == 0:
                self._drained.set()

    def _runnable(self, action: act.ScheduleActivity) -> bool:
        spec = self._claim_spec
        return action.name in spec.activities and action.options.queue in spec.queues

    # -- starts made in this process (``local``) ----------------------------------------------

    def can_start(self, name: str) -> bool:
        """See ``local.LocalStarter``."""
        if self._loop is None or name not in self.spec.orchestrators:
            return False
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    async def start_here(self, store: Store, new: NewInstance) -> bool | None:
        """See ``local.LocalStarter``: decided here, committed with the instance's creation."""
        started = time.monotonic()
        decided = self._episodes.first(new)
        if decided is None or self._steps.overran(decided, time.monotonic() - started):
            return None
        limit = self._activity_slots.take_now(decided.runnable)
        try:
            await self._steps.entity_rows.ensure(store, decided.commit.actions)
            eager = await store.start_instance(
                new, decided.commit, eager=self._claim_spec, eager_limit=limit
            )
        except BaseException:
            self._steps.settle(decided, limit, None)
            raise
        # stopped meanwhile (RuntimeError): the activities' leases run out, others claim them
        with contextlib.suppress(RuntimeError):
            self._steps.settle(decided, limit, eager)
        return eager is not None


class _Ready(TaskStatus[None]):
    """Tells ``__aenter__`` that the worker is claiming work."""

    def __init__(self, event: asyncio.Event) -> None:
        self._event = event

    def started(self, value: None = None) -> None:
        self._event.set()
