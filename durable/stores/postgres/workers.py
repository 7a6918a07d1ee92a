"""PostgreSQL: the workers that announce themselves, and the instances' trace contexts (see
``stores.workers`` for what each call guarantees). Times are the database's ``now()``."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from ..workers import LIVE_WITHIN, WorkerInfo, from_row, names_of

if TYPE_CHECKING:
    from .db import Database

_ANNOUNCE = """
INSERT INTO workers (worker_id, host, pid, queues, orchestrators, activities, started_at,
    last_seen)
VALUES ($1, $2, $3, $4, $5, $6, now(), now())
ON CONFLICT (worker_id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
    queues = excluded.queues, orchestrators = excluded.orchestrators,
    activities = excluded.activities, last_seen = excluded.last_seen
"""
_LIST = """
SELECT * FROM workers WHERE last_seen >= now() - $1 * interval '1 second'
ORDER BY started_at, worker_id
"""
_DEPTHS = """
SELECT queue, count(*) FROM activities WHERE visible_at <= now() AND queue = ANY($1::text[])
GROUP BY queue
"""
_SAVE = """
INSERT INTO traces (instance_id, context) VALUES ($1, $2) ON CONFLICT (instance_id) DO NOTHING
"""


def _worker(row: Any) -> WorkerInfo:
    return from_row(row, row["started_at"], row["last_seen"])


class WorkerTables:
    """The ``WorkerRegistry`` calls of ``PostgresStore`` (which sets ``_db``)."""

    _db: Database

    async def announce_worker(self, worker: WorkerInfo) -> None:
        """See ``WorkerRegistry.announce_worker``."""
        args = (worker.worker_id, worker.host, worker.pid, *names_of(worker))
        await self._db.read(lambda conn: conn.execute(_ANNOUNCE, *args), "announce_worker")

    async def withdraw_worker(self, worker_id: str) -> None:
        """See ``WorkerRegistry.withdraw_worker``."""
        await self._db.read(
            lambda conn: conn.execute("DELETE FROM workers WHERE worker_id = $1", worker_id),
            "withdraw_worker",
        )

    async def list_workers(self, *, seen_within: float = LIVE_WITHIN) -> list[WorkerInfo]:
        """See ``WorkerRegistry.list_workers``."""
        rows = await self._db.read(
            lambda conn: conn.fetch(_LIST, float(seen_within)), "list_workers"
        )
        return [_worker(row) for row in rows]

    async def queue_depths(self, queues: Collection[str]) -> dict[str, int]:
        """See ``WorkerRegistry.queue_depths``."""
        wanted = sorted(set(queues))
        rows = await self._db.read(lambda conn: conn.fetch(_DEPTHS, wanted), "queue_depths")
        return dict.fromkeys(wanted, 0) | {row[0]: int(row[1]) for row in rows}

    async def save_trace_context(self, instance_id: str, context: str) -> None:
        """See ``WorkerRegistry.save_trace_context``."""
        await self._db.read(
            lambda conn: conn.execute(_SAVE, instance_id, context), "save_trace_context"
        )

    async def get_trace_context(self, instance_id: str) -> str | None:
        """See ``WorkerRegistry.get_trace_context``."""
        found = await self._db.read(
            lambda conn: conn.fetchval(
                "SELECT context FROM traces WHERE instance_id = $1", instance_id
            ),
            "get_trace_context",
        )
        return None if found is None else str(found)
