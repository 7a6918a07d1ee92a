"""The SQLite store: the embedded default (``sqlite:///app.db``).

One aiosqlite connection per store object; WAL mode, ``synchronous=FULL`` unless told otherwise,
writers in ``BEGIN IMMEDIATE`` transactions that are group-committed (see ``sqlite.db``).
Several processes may share one file: SQLite's write lock serialises them, busy waits are
retried, and an in-process hub (``_hub``) wakes waiters without polling.

Choices where the ``Store`` contract is silent:

* A message to a finished instance (``send_message``, ``SendEvent``) is dropped: nothing would
  ever take it. A SUSPENDED instance is claimed only for a control message (resume, terminate,
  suspend), since its other messages wait in the inbox until it resumes.
* After ``ContinueAsNew`` the instance is PENDING until its next run's first episode commits.
* A terminal commit deletes every message left in the instance's inbox, not only its timers.
* The newest run's history is kept; earlier runs' histories are dropped with ``ContinueAsNew``.
* ``synchronous="off"`` is refused: SQLite documents it as a way to corrupt a database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence

import anyio

from ... import _faults as faults
from ..._errors import ConfigurationError, StoreError
from ..._events import ErrorInfo, HistoryEvent
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
from ..status_poll import StatusPoll
from . import activities, claims, dumps, instances, listing
from .control import ControlTables
from .db import Database
from .episode import commit_episode, complete_and_commit, start_and_commit
from .flow import FlowTables
from .outputs import OutputTables
from .rows import dump_error
from .workers import WorkerTables

SYNCHRONOUS = ("normal", "full", "extra")
#: a timer is waited for this much past its due time, so that it is visible to the claim
_DUE_SLACK = 0.002
#: how often (at least) awaited instances are checked for having finished in another process
STATUS_POLL_SECONDS = 0.02


class SQLiteStore(WorkerTables, OutputTables, ControlTables, FlowTables):
    """A ``Store`` on one SQLite file (or ``":memory:"``), opened with ``await store.open()``.

    Opening a store that is open already only counts: it closes on the last ``close()``.
    """

    claim_concurrency = 4

    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "full",
        busy_timeout: float = 5.0,
        display_url: str | None = None,
    ) -> None:
        if synchronous.lower() not in SYNCHRONOUS:
            raise ConfigurationError(
                f"SQLite store {path!r}: synchronous={synchronous!r}; use one of "
                f"{', '.join(SYNCHRONOUS)}"
            )
        self.display_url = display_url or f"sqlite:///{path}"
        self._db = Database(
            path, self.display_url, synchronous=synchronous.upper(), busy_timeout=busy_timeout
        )
        self._opens = 0
        self._lock: anyio.Lock | None = None
        self._waiters = _hub.Waiters()
        self._status_poll = StatusPoll(
            self._read_finished, self._db.instance_key, STATUS_POLL_SECONDS
        )

    def __repr__(self) -> str:
        return f"SQLiteStore({self.display_url!r})"

    async def open(self) -> None:
        """Connect, check and migrate the schema (see ``Database.connect``)."""
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._opens == 0:
                await self._db.connect()
            self._opens += 1

    async def check_integrity(self) -> None:
        """``StoreError`` naming the damage when ``PRAGMA quick_check`` finds the file damaged
        (a worker checks at start: a corrupt table would otherwise fail quietly, call by call).
        """
        problems = await self._db.read(_quick_check, "check_integrity")
        if problems:
            shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
            raise StoreError(
                f"{self._db.where}: the database file is damaged (PRAGMA quick_check: {shown}); "
                "restore it from a backup, or recover it with the sqlite3 shell's .recover"
            )

    async def close(self) -> None:
        """Release this holder's share; the connection closes with the last one."""
        if self._opens == 0:
            return
        self._opens -= 1
        if self._opens == 0:
            await self._status_poll.close()
            await self._db.close()

    # -- instances -----------------------------------------------------------------------------

    async def create_instance(self, new: NewInstance) -> bool:
        """See ``Store.create_instance``."""
        return await self._db.write(
            lambda tx: instances.insert_instance(tx, new), "create_instance"
        )

    async def start_instance(
        self, new: NewInstance, first: EpisodeCommit, *, eager: ClaimSpec, eager_limit: int = 0
    ) -> list[ActivityWorkItem] | None:
        """See ``Store.start_instance``."""
        return await self._db.write(
            lambda tx: start_and_commit(tx, new, first, eager, eager_limit), "start_instance"
        )

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """See ``Store.get_instance``."""
        return await self._db.read(
            lambda conn, _: instances.get_instance(conn, instance_id), "get_instance"
        )

    async def list_instances(self, where: InstanceFilter) -> list[InstanceRecord]:
        """See ``Store.list_instances``."""
        return await self._db.read(
            lambda conn, _: listing.list_instances(conn, where), "list_instances"
        )

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        """See ``Store.get_history``."""
        return await self._db.read(
            lambda conn, _: instances.get_history(conn, instance_id), "get_history"
        )

    async def send_message(self, instance_id: str, event: HistoryEvent) -> None:
        """See ``Store.send_message``; a message to a finished instance is dropped."""
        await self._db.write(
            lambda tx: instances.send_message(tx, instance_id, event), "send_message"
        )

    async def purge_instance(self, instance_id: str) -> int:
        """See ``Store.purge_instance``."""
        return await self._db.write(
            lambda tx: instances.purge_instance(tx, instance_id), "purge_instance"
        )

    async def export_instances(
        self, *, after: str | None = None, limit: int = 100
    ) -> list[InstanceDump]:
        """See ``Store.export_instances``."""
        return await self._db.read(
            lambda conn, _: dumps.export_instances(conn, after, limit), "export_instances"
        )

    async def import_instances(self, batch: Sequence[InstanceDump]) -> list[str]:
        """See ``Store.import_instances``."""
        items = list(batch)
        return await self._db.write(
            lambda tx: dumps.import_instances(tx, items), "import_instances"
        )

    # -- orchestration work --------------------------------------------------------------------

    async def claim_orchestration(self, spec: ClaimSpec) -> OrchestrationWorkItem | None:
        """See ``Store.claim_orchestration``."""
        if not spec.orchestrators:
            return None
        return await self._db.write(
            lambda tx: claims.claim_orchestration(tx, spec), "claim_orchestration"
        )

    async def commit_episode(
        self, commit: EpisodeCommit, *, eager: ClaimSpec | None = None, eager_limit: int = 0
    ) -> list[ActivityWorkItem]:
        """See ``Store.commit_episode``."""
        return await self._db.write(
            lambda tx: commit_episode(tx, commit, eager, eager_limit), "commit_episode"
        )

    async def release_orchestration(
        self,
        instance_id: str,
        worker_id: str,
        *,
        retry_in: float = 0.0,
        error: ErrorInfo | None = None,
    ) -> None:
        """See ``Store.release_orchestration``."""
        stored = dump_error(error)
        await self._db.write(
            lambda tx: claims.release_orchestration(tx, instance_id, worker_id, retry_in, stored),
            "release_orchestration",
        )

    # -- activities ----------------------------------------------------------------------------

    async def claim_activity(self, spec: ClaimSpec) -> ActivityWorkItem | None:
        """See ``Store.claim_activity``."""
        if not spec.activities or not spec.queues:
            return None
        return await self._db.write(
            lambda tx: activities.claim_activity(tx, spec), "claim_activity"
        )

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
        done = [(item, result), *more]
        return await self._db.write(
            lambda tx: complete_and_commit(tx, done, then, eager, eager_limit),
            "complete_activity",
        )

    async def fail_activity(
        self, item: ActivityWorkItem, error: ErrorInfo, *, retry_in: float | None
    ) -> bool:
        """See ``Store.fail_activity``."""
        return await self._db.write(
            lambda tx: activities.fail_activity(tx, item, error, retry_in), "fail_activity"
        )

    async def heartbeat_activity(
        self, item: ActivityWorkItem, details: str | None, lease_seconds: float
    ) -> bool:
        """See ``Store.heartbeat_activity``."""
        return await self._db.write(
            lambda tx: activities.heartbeat_activity(tx, item, details, lease_seconds),
            "heartbeat_activity",
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
        held = (list(instances), list(activities))
        await self._db.write(
            lambda tx: claims.renew_leases(tx, worker_id, lease_seconds, *held), "renew_leases"
        )

    async def expire_unstarted(self) -> int:
        """See ``Store.expire_unstarted``."""
        return await self._db.write(activities.expire_unstarted, "expire_unstarted")

    # -- waiting -------------------------------------------------------------------------------

    async def wait_for_work(self, timeout: float, kind: WorkKind | None = None) -> None:
        """See ``Store.wait_for_work``: woken by writes in this process (of any kind of work),
        or when the next message, activity or released instance falls due."""
        due = await self._db.read(claims.next_due, "wait_for_work")
        if due is not None:
            timeout = min(timeout, due - faults.wall_clock() + _DUE_SLACK)
        await self._wait(self._db.work_key, timeout)

    def instance_mark(self, instance_id: str) -> int:
        """See ``Store.instance_mark``."""
        return _hub.generation(self._db.instance_key(instance_id))

    async def wait_for_instance(
        self, instance_id: str, timeout: float, since: int | None = None
    ) -> None:
        """See ``Store.wait_for_instance``: woken by commits in this process at once, and for
        instances finished by other processes through a poll shared by every waiter."""
        wait = self._wait(self._db.instance_key(instance_id), timeout, since)
        await self._status_poll.awaiting(instance_id, wait)

    async def _read_finished(self, instance_ids: list[str]) -> set[str]:
        return await self._db.read(
            lambda conn, _: instances.finished_among(conn, instance_ids), "wait_for_instance"
        )

    async def _wait(self, key: str, timeout: float, since: int | None = None) -> None:
        await self._waiters.wait(key, timeout, since=since)


def _quick_check(conn: sqlite3.Connection, now: float) -> list[str]:
    """What ``PRAGMA quick_check`` reports (nothing when the file is sound)."""
    found = [str(row[0]) for row in conn.execute("PRAGMA quick_check(20)").fetchall()]
    return [] if found == ["ok"] else found
