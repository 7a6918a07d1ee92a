"""The memory store's workers and trace contexts (see ``stores.workers`` for the guarantees).

Kept beside the tables (``Tables``), on the store's clock; a trace context is only returned
while its instance exists, so a purge removes it too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio

from ..workers import LIVE_WITHIN, WorkerInfo

if TYPE_CHECKING:
    from .tables import Tables


class WorkerTables:
    """The ``WorkerRegistry`` calls of ``MemoryStore`` (which sets ``_db`` and ``_clock``)."""

    _db: Tables
    _clock: Callable[[], float]

    def _registry(self) -> tuple[dict[str, WorkerInfo], dict[str, str]]:
        found: tuple[dict[str, WorkerInfo], dict[str, str]] | None
        found = getattr(self._db, "_durable_registry", None)
        if found is None:  # new tables (the store was emptied): a new registry with them
            found = ({}, {})
            setattr(self._db, "_durable_registry", found)  # noqa: B010 (Tables has no slot)
        return found

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def announce_worker(self, worker: WorkerInfo) -> None:
        """See ``WorkerRegistry.announce_worker``."""
        await anyio.lowlevel.checkpoint()
        workers, now = self._registry()[0], self._now()
        known = workers.get(worker.worker_id)
        started = known.started_at if known is not None else now
        workers[worker.worker_id] = dataclasses.replace(
            worker, started_at=started, last_seen_at=now
        )

    async def withdraw_worker(self, worker_id: str) -> None:
        """See ``WorkerRegistry.withdraw_worker``."""
        await anyio.lowlevel.checkpoint()
        self._registry()[0].pop(worker_id, None)

    async def list_workers(self, *, seen_within: float = LIVE_WITHIN) -> list[WorkerInfo]:
        """See ``WorkerRegistry.list_workers``."""
        await anyio.lowlevel.checkpoint()
        now = self._now()
        live = [
            worker
            for worker in self._registry()[0].values()
            if worker.last_seen_at is not None
            and (now - worker.last_seen_at).total_seconds() <= seen_within
        ]
        return sorted(live, key=lambda worker: (worker.started_at or now, worker.worker_id))

    async def queue_depths(self, queues: Collection[str]) -> dict[str, int]:
        """See ``WorkerRegistry.queue_depths``."""
        await anyio.lowlevel.checkpoint()
        now = self._clock()
        depths = dict.fromkeys(queues, 0)
        for row in self._db.activities.values():
            if row.queue in depths and row.visible_at <= now:
                depths[row.queue] += 1
        return depths

    async def save_trace_context(self, instance_id: str, context: str) -> None:
        """See ``WorkerRegistry.save_trace_context``."""
        await anyio.lowlevel.checkpoint()
        self._registry()[1].setdefault(instance_id, context)

    async def get_trace_context(self, instance_id: str) -> str | None:
        """See ``WorkerRegistry.get_trace_context``."""
        await anyio.lowlevel.checkpoint()
        traces = self._registry()[1]
        if instance_id not in self._db.instances:
            traces.pop(instance_id, None)  # purged: gone with it
            return None
        return traces.get(instance_id)
