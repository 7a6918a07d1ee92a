"""The memory store (``memory://``): a ``Store`` in Python objects, for tests and one process.

A third backend, not SQLite's ``:memory:``: the tables are dicts (``tables``), each operation
runs to its end without awaiting (so it is atomic for the event loop) and writes the same
commit plan as the SQL backends (``episode``). It passes the conformance suite. Nothing
survives the process; ``durable`` commands that run in a process of their own refuse it.

The clock: unix seconds from ``time.time`` unless the store is given one (``clock=``). A given
clock is moved by its owner (``durable.testing``'s virtual clock), who calls ``clock_moved()``
after each move; ``wait_for_work`` then waits for a write, a move or its timeout only (a due
time on a clock that does not run by itself would never come). For that owner the store also
tells whether work is leased or claimable (``busy``), when the next thing falls due
(``next_due``) and whether anyone awaits an instance (``awaited``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import TypeVar

import anyio

from ..._errors import StoreError
from ..._events import ErrorInfo, HistoryEvent
from ..._status import Status
from .. import hub as _hub
from ..base import (
    ActivityWorkItem,
    ClaimSpec,
    EpisodeCommit,
    InstanceFilter,
    InstanceRecord,
    NewInstance,
    OrchestrationWorkItem,
    WorkKind,
)
from ..dumps import InstanceDump
from ..rules import CONTROL_KINDS, check_purgeable
from . import flow, work
from .control import ControlTables
from .dumps import export_instances, import_instances
from .episode import commit_episode, complete_and_commit, start_and_commit
from .flow import FlowTables
from .outputs import OutputTables
from .tables import Tables, Tx, leased_here, to_ts
from .workers import WorkerTables

T = TypeVar("T")
#: a timer is waited for this much past its due time, so that it is visible to the claim
_DUE_SLACK = 0.002


def _clock() -> float:
    return round(time.time(), 6)


class MemoryStore(WorkerTables, OutputTables, ControlTables, FlowTables):
    """A ``Store`` in this process's memory, opened with ``await store.open()``.

    Opening a store that is open already only counts; its data is dropped on the last
    ``close()``.
    """

    claim_concurrency = 1

    def __init__(
        self, display_url: str = "memory://", *, clock: Callable[[], float] | None = None
    ) -> None:
        self.display_url = display_url
        self._clock = clock or _clock
        self._timed_waits = clock is None
        self._db = Tables()
        self._opens = 0
        self._key = f"memory:{id(self)}"
        self._waiters = _hub.Waiters()
        #: tasks awaiting an instance right now (``wait_for_instance``)
        self.awaited = 0
        #: called when the last holder closes the store (the registry forgets it)
        self.on_last_close: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"MemoryStore({self.display_url!r})"

    @property
    def work_key(self) -> str:
        """The hub key woken by every write that may make work (and by ``clock_moved``)."""
        return f"{self._key}:work"

    @property
    def change_key(self) -> str:
        """The hub key woken by every write, and when a task starts awaiting an instance."""
        return f"{self._key}:changed"

    def _instance_key(self, instance_id: str) -> str:
        return f"{self._key}:i:{instance_id}"

    async def open(self) -> None:
        """Open (nothing to connect; counts the holders)."""
        self._opens += 1

    async def close(self) -> None:
        """Release this holder's share; the data goes with the last one."""
        if self._opens == 0:
            return
        self._opens -= 1
        if self._opens == 0:
            self._db = Tables()
            if self.on_last_close is not None:
                self.on_last_close()

    async def _ready(self) -> None:
        """Let other tasks run (as a database call would), then refuse if not open."""
        await anyio.lowlevel.checkpoint()
        if self._opens == 0:
            raise StoreError(f"store {self.display_url}: not open (await store.open() first)")

    def _write(self, fn: Callable[[Tx], T]) -> T:
        """Run one write operation and wake whom it concerns (also after a refusal)."""
        tx = Tx(self._clock())
        try:
            return fn(tx)
        finally:
            if tx.work:
                _hub.notify(self.work_key)
            for instance_id in tx.instances:
                _hub.notify(self._instance_key(instance_id))
            _hub.notify(self.change_key)

    # -- instances -----------------------------------------------------------------------------

    async def create_instance(self, new: NewInstance) -> bool:
        """See ``Store.create_instance``."""
        await self._ready()
        return self._write(lambda tx: self._db.insert_instance(tx, new))

    async def start_instance(
        self, new: NewInstance, first: EpisodeCommit, *, eager: ClaimSpec, eager_limit: int = 0
    ) -> list[ActivityWorkItem] | None:
        """See ``Store.start_instance``."""
        await self._ready()
        return self._write(
            lambda tx: start_and_commit(self._db, tx, new, first, eager, eager_limit)
        )

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """See ``Store.get_instance``."""
        await self._ready()
        row = self._db.instances.get(instance_id)
        return None if row is None else row.record()

    async def list_instances(self, where: InstanceFilter) -> list[InstanceRecord]:
        """See ``Store.list_instances``."""
        await self._ready()
        status, name, tags = where.status, where.name, where.tags or {}
        after = None if where.created_after is None else to_ts(where.created_after)
        before = None if where.created_before is None else to_ts(where.created_before)
        untouched = None if where.updated_before is None else to_ts(where.updated_before)
        rows = [
            row
            for row in self._db.instances.values()
            if (status is None or row.status is Status(status))
            and (name is None or row.name == name)
            and (after is None or row.created_at > after)
            and (before is None or row.created_at < before)
            and (untouched is None or row.updated_at < untouched)
            and all(row.tags.get(key) == value for key, value in tags.items())
        ]
        rows.sort(key=lambda row: (row.created_at, row.rowid), reverse=True)
        return [row.record() for row in rows[: max(int(where.limit), 0)]]

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        """See ``Store.get_history``."""
        await self._ready()
        return list(self._db.history.get(instance_id, ()))

    async def send_message(self, instance_id: str, event: HistoryEvent) -> None:
        """See ``Store.send_message``; a message to a finished instance is dropped."""
        await self._ready()
        self._write(lambda tx: self._db.send_message(tx, instance_id, event))

    async def purge_instance(self, instance_id: str) -> int:
        """See ``Store.purge_instance``."""
        await self._ready()
        tree = self._tree(instance_id)
        if not tree:
            return 0
        check_purgeable(instance_id, tree)
        for member in tree:
            self._db.delete_instance(member)
        return len(tree)

    def _tree(self, instance_id: str) -> dict[str, Status]:
        """The instance and its sub-orchestrations, recursively, with their statuses."""
        instances = self._db.instances
        if instance_id not in instances:
            return {}
        tree, frontier = {instance_id: instances[instance_id].status}, [instance_id]
        while frontier:
            parents = set(frontier)
            frontier = [
                row.instance_id
                for row in instances.values()
                if row.parent_instance_id in parents and row.instance_id not in tree
            ]
            tree.update({child: instances[child].status for child in frontier})
        return tree

    async def export_instances(
        self, *, after: str | None = None, limit: int = 100
    ) -> list[InstanceDump]:
        """See ``Store.export_instances``."""
        await self._ready()
        return export_instances(self._db, after, limit)

    async def import_instances(self, batch: Sequence[InstanceDump]) -> list[str]:
        """See ``Store.import_instances``."""
        await self._ready()
        items = list(batch)
        return self._write(lambda tx: import_instances(self._db, tx, items))

    # -- orchestration work --------------------------------------------------------------------

    async def claim_orchestration(self, spec: ClaimSpec) -> OrchestrationWorkItem | None:
        """See ``Store.claim_orchestration``."""
        await self._ready()
        if not spec.orchestrators:
            return None
        return self._write(lambda tx: work.claim_orchestration(self._db, tx, spec))

    async def commit_episode(
        self, commit: EpisodeCommit, *, eager: ClaimSpec | None = None, eager_limit: int = 0
    ) -> list[ActivityWorkItem]:
        """See ``Store.commit_episode``."""
        await self._ready()
        return self._write(lambda tx: commit_episode(self._db, tx, commit, eager, eager_limit))

    async def release_orchestration(
        self,
        instance_id: str,
        worker_id: str,
        *,
        retry_in: float = 0.0,
        error: ErrorInfo | None = None,
    ) -> None:
        """See ``Store.release_orchestration``."""
        await self._ready()
        self._write(
            lambda tx: work.release_orchestration(
                self._db, tx, instance_id, worker_id, retry_in, error
            )
        )

    # -- activities ----------------------------------------------------------------------------

    async def claim_activity(self, spec: ClaimSpec) -> ActivityWorkItem | None:
        """See ``Store.claim_activity``."""
        await self._ready()
        if not spec.activities or not spec.queues:
            return None
        return self._write(lambda tx: work.claim_activity(self._db, tx, spec))

    async def complete_activity(
        self,
        item: ActivityWorkItem,
        result: str,
        *,
        more: Sequence[tuple[ActivityWorkItem, str]] = (),
        then: EpisodeCommit | None = None,
        eager: ClaimSpec | None = None,
        eager_limit: int = 0,
    ) -> tuple[bool, list[ActivityWorkItem] | None]:
        """See ``Store.complete_activity``."""
        await self._ready()
        done = [(item, result), *more]
        return self._write(
            lambda tx: complete_and_commit(self._db, tx, done, then, eager, eager_limit)
        )

    async def fail_activity(
        self, item: ActivityWorkItem, error: ErrorInfo, *, retry_in: float | None
    ) -> bool:
        """See ``Store.fail_activity``."""
        await self._ready()
        return self._write(lambda tx: work.fail_activity(self._db, tx, item, error, retry_in))

    async def heartbeat_activity(
        self, item: ActivityWorkItem, details: str | None, lease_seconds: float
    ) -> bool:
        """See ``Store.heartbeat_activity``."""
        await self._ready()
        return self._write(
            lambda tx: work.heartbeat_activity(self._db, tx, item, details, lease_seconds)
        )

    async def renew_leases(
        self,
        worker_id: str,
        lease_seconds: float,
        *,
        instances: Collection[str] = (),
        activities: Collection[int] = (),
    ) -> None:
        """See ``Store.renew_leases``."""
        await self._ready()
        held = (list(instances), list(activities))
        self._write(lambda tx: work.renew_leases(self._db, tx, worker_id, lease_seconds, *held))

    async def expire_unstarted(self) -> int:
        """See ``Store.expire_unstarted``."""
        await self._ready()
        return self._write(lambda tx: work.expire_unstarted(self._db, tx))

    # -- waiting -------------------------------------------------------------------------------

    async def wait_for_work(self, timeout: float, kind: WorkKind | None = None) -> None:
        """See ``Store.wait_for_work``: woken by writes (of any kind of work) and clock moves,
        or, on the real clock, when the next message, activity or released instance falls due."""
        if self._timed_waits:
            due = self._db.next_due(self._clock())
            if due is not None:
                timeout = min(timeout, due - self._clock() + _DUE_SLACK)
        await self._waiters.wait(self.work_key, timeout)

    def instance_mark(self, instance_id: str) -> int:
        """See ``Store.instance_mark``."""
        return _hub.generation(self._instance_key(instance_id))

    async def wait_for_instance(
        self, instance_id: str, timeout: float, since: int | None = None
    ) -> None:
        """See ``Store.wait_for_instance``: woken by every commit that changes its status (the
        store lives in this process only, so nothing else can change it)."""
        self.awaited += 1
        _hub.notify(self.change_key)
        try:
            await self._waiters.wait(self._instance_key(instance_id), timeout, since=since)
        finally:
            self.awaited -= 1

    # -- for the owner of a given clock (``durable.testing``) --------------------------------

    def now(self) -> float:
        """The store's clock (unix seconds)."""
        return self._clock()

    def clock_moved(self) -> None:
        """The given clock moved: wake the waiting claimers (work may have fallen due)."""
        _hub.notify(self.work_key)
        _hub.notify(self.change_key)

    def next_due(self) -> float | None:
        """When the next message, activity, released instance or start deadline falls due.

        An instance a worker holds (released with an error: a non-determinism, a commit that
        failed) does not count: its next claim would hold it again, and moving time for it
        would only spin (``held`` names it).
        """
        db, now = self._db, self._clock()
        times = [m.visible_at for inbox in db.inbox.values() for m in inbox.values()]
        times += [a.visible_at for a in db.activities.values() if a.lease_owner is None]
        times += [i.ready_at for i in db.instances.values() if i.error is None]
        times += [
            a.start_deadline + 1e-6
            for a in db.activities.values()
            if not a.started and a.start_deadline is not None
        ]
        times += db.schedule_slots() + list(flow.rate_blocked(db, now).values())
        return min((t for t in times if t > now), default=None)

    def held(self) -> list[InstanceRecord]:
        """Instances that have not finished and show an error: held by a worker."""
        return [
            row.record()
            for row in self._db.instances.values()
            if row.error is not None and not row.status.is_terminal
        ]

    def busy(self, spec: ClaimSpec) -> bool:
        """Whether any work is leased, or claimable now by ``spec``: the store is not idle."""
        db, now = self._db, self._clock()
        for row in db.instances.values():
            if row.lease_owner is not None and row.lease_expires_at > now:
                return True
            if work.claimable(row, spec, now) and any(
                m.visible_at <= now
                and (row.status is not Status.SUSPENDED or m.event.kind in CONTROL_KINDS)
                for m in db.inbox[row.instance_id].values()
            ):
                return True
        if any(slot <= now for slot in db.schedule_slots()):  # a worker starts it
            return True
        blocked = flow.rate_blocked(db, now)
        return any(
            leased_here(a)
            or (
                a.visible_at <= now
                and a.queue in spec.queues
                and a.name in spec.activities
                and a.queue not in blocked
            )
            for a in db.activities.values()
        )


# -- memory:// --------------------------------------------------------------------------------

_SHARED: dict[str, MemoryStore] = {}


def memory_store(name: str = "") -> MemoryStore:
    """An in-memory store; one with a ``name`` is shared in this process while it is open."""
    if not name:
        return MemoryStore()
    store = _SHARED.get(name)
    if store is None:
        store = _SHARED[name] = MemoryStore(f"memory://{name}")

        def forget(store: MemoryStore = store) -> None:
            if _SHARED.get(name) is store:
                del _SHARED[name]

        store.on_last_close = forget
    return store


__all__ = ["MemoryStore", "memory_store"]
