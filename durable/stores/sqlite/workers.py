"""SQLite: the workers that announce themselves, and the instances' trace contexts (see
``stores.workers`` for what each call guarantees)."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from typing import TYPE_CHECKING

from ..workers import LIVE_WITHIN, WorkerInfo, from_row, names_of
from .rows import Tx, names_json, to_datetime

if TYPE_CHECKING:
    from .db import Database

_ANNOUNCE = """
INSERT INTO workers (worker_id, host, pid, queues, orchestrators, activities, started_at,
    last_seen)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (worker_id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
    queues = excluded.queues, orchestrators = excluded.orchestrators,
    activities = excluded.activities, last_seen = excluded.last_seen
"""


def _announce(tx: Tx, worker: WorkerInfo) -> None:
    tx.execute(
        _ANNOUNCE, (worker.worker_id, worker.host, worker.pid, *names_of(worker), tx.now, tx.now)
    )


def _workers(conn: sqlite3.Connection, now: float, within: float) -> list[WorkerInfo]:
    rows = conn.execute(
        "SELECT * FROM workers WHERE last_seen >= ? ORDER BY started_at, worker_id",
        (now - within,),
    ).fetchall()
    return [
        from_row(row, to_datetime(row["started_at"]), to_datetime(row["last_seen"])) for row in rows
    ]


def _depths(conn: sqlite3.Connection, now: float, queues: list[str]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT queue, count(*) FROM activities WHERE visible_at <= ? "
        "AND queue IN (SELECT value FROM json_each(?)) GROUP BY queue",
        (now, names_json(frozenset(queues))),
    ).fetchall()
    return dict.fromkeys(queues, 0) | {str(row[0]): int(row[1]) for row in rows}


def _trace(conn: sqlite3.Connection, instance_id: str) -> str | None:
    row = conn.execute("SELECT context FROM traces WHERE instance_id = ?", (instance_id,))
    found = row.fetchone()
    return None if found is None else str(found[0])


class WorkerTables:
    """The ``WorkerRegistry`` calls of ``SQLiteStore`` (which sets ``_db``)."""

    _db: Database

    async def announce_worker(self, worker: WorkerInfo) -> None:
        """See ``WorkerRegistry.announce_worker``."""
        await self._db.write(lambda tx: _announce(tx, worker), "announce_worker")

    async def withdraw_worker(self, worker_id: str) -> None:
        """See ``WorkerRegistry.withdraw_worker``."""
        await self._db.write(
            lambda tx: tx.execute("DELETE FROM workers WHERE worker_id = ?", (worker_id,)),
            "withdraw_worker",
        )

    async def list_workers(self, *, seen_within: float = LIVE_WITHIN) -> list[WorkerInfo]:
        """See ``WorkerRegistry.list_workers``."""
        return await self._db.read(
            lambda conn, now: _workers(conn, now, seen_within), "list_workers"
        )

    async def queue_depths(self, queues: Collection[str]) -> dict[str, int]:
        """See ``WorkerRegistry.queue_depths``."""
        wanted = sorted(set(queues))
        return await self._db.read(lambda conn, now: _depths(conn, now, wanted), "queue_depths")

    async def save_trace_context(self, instance_id: str, context: str) -> None:
        """See ``WorkerRegistry.save_trace_context``."""
        await self._db.write(
            lambda tx: tx.execute(
                "INSERT INTO traces (instance_id, context) VALUES (?, ?) "
                "ON CONFLICT (instance_id) DO NOTHING",
                (instance_id, context),
            ),
            "save_trace_context",
        )

    async def get_trace_context(self, instance_id: str) -> str | None:
        """See ``WorkerRegistry.get_trace_context``."""
        return await self._db.read(lambda conn, _: _trace(conn, instance_id), "get_trace_context")
