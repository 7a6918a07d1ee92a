"""Streams and update answers in SQLite (see ``stores.outputs``): written inside the caller's
write transaction (the single writer numbers each stream's values without a race)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ..._actions import RespondUpdate
from .. import hub as _hub
from ..outputs import READ_LIMIT, UpdateAnswer, positions
from .db import Database
from .rows import Tx

#: how often a reader looks for values written by another process sharing the file
POLL_SECONDS = 0.02


def append(tx: Tx, instance_id: str, entries: list[tuple[str, str]]) -> None:
    """Append ``(key, value)`` entries to the instance's streams, in order."""
    last: dict[str, int] = {}
    for key in {key for key, _ in entries}:
        row = tx.one(
            "SELECT max(position) FROM streams WHERE instance_id = ? AND key = ?",
            (instance_id, key),
        )
        last[key] = -1 if row is None or row[0] is None else int(row[0])
    tx.conn.executemany(
        "INSERT INTO streams (instance_id, key, position, value) VALUES (?, ?, ?, ?)",
        [(instance_id, *row) for row in positions(last, entries)],
    )
    tx.instances.add(instance_id)


def answer(tx: Tx, instance_id: str, answers: list[RespondUpdate]) -> None:
    """Store the answers (a second answer to one update id keeps the first)."""
    tx.conn.executemany(
        "INSERT OR IGNORE INTO update_results (instance_id, update_id, result, rejection) "
        "VALUES (?, ?, ?, ?)",
        [(instance_id, a.update_id, a.result, a.rejection) for a in answers],
    )
    tx.instances.add(instance_id)


def read(conn: sqlite3.Connection, instance_id: str, key: str, start: int, limit: int) -> list[str]:
    rows = conn.execute(
        "SELECT value FROM streams WHERE instance_id = ? AND key = ? AND position >= ? "
        "ORDER BY position LIMIT ?",
        (instance_id, key, start, limit),
    ).fetchall()
    return [row[0] for row in rows]


def answer_of(conn: sqlite3.Connection, instance_id: str, update_id: str) -> UpdateAnswer | None:
    row = conn.execute(
        "SELECT result, rejection FROM update_results WHERE instance_id = ? AND update_id = ?",
        (instance_id, update_id),
    ).fetchone()
    return None if row is None else UpdateAnswer(row[0], row[1])


class OutputTables:
    """The ``OutputStore`` calls of ``SQLiteStore`` (which sets ``_db`` and ``_waiters``)."""

    _db: Database
    _waiters: _hub.Waiters

    async def append_stream(self, instance_id: str, entries: Sequence[tuple[str, str]]) -> None:
        """See ``OutputStore.append_stream``."""
        await self._db.write(lambda tx: append(tx, instance_id, list(entries)), "append_stream")

    async def read_stream(
        self, instance_id: str, key: str, start: int, limit: int = READ_LIMIT
    ) -> list[str]:
        """See ``OutputStore.read_stream``."""
        return await self._db.read(
            lambda conn, _: read(conn, instance_id, key, start, limit), "read_stream"
        )

    async def get_update_answer(self, instance_id: str, update_id: str) -> UpdateAnswer | None:
        """See ``OutputStore.get_update_answer``."""
        return await self._db.read(
            lambda conn, _: answer_of(conn, instance_id, update_id), "get_update_answer"
        )

    async def wait_for_output(
        self, instance_id: str, timeout: float, since: int | None = None
    ) -> None:
        """See ``OutputStore.wait_for_output``: writes in this process wake it at once; those of
        other processes sharing the file are seen by reading again after a short poll (as
        ``wait_for_instance`` sees their finishes)."""
        key = self._db.instance_key(instance_id)
        await self._waiters.wait(key, min(timeout, POLL_SECONDS), since=since)
