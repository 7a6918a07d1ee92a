"""Streams and update answers in PostgreSQL (see ``stores.outputs``).

Appends to one stream are serialised by a transaction-scoped advisory lock on (instance, key),
so an activity's values and its orchestrator's, written concurrently, get distinct consecutive
positions. Every write sends the instance's notification, which wakes readers in every process
through LISTEN (no polling).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from ..._actions import RespondUpdate
from .. import hub as _hub
from ..outputs import READ_LIMIT, UpdateAnswer
from .db import Database, Tx

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2, 0))"
_APPEND = """
INSERT INTO streams (instance_id, key, position, value)
SELECT $1, $2,
       coalesce((SELECT max(position) FROM streams WHERE instance_id = $1 AND key = $2), -1)
       + t.ord, t.value
FROM unnest($3::text[]) WITH ORDINALITY AS t(value, ord)
"""


async def append(tx: Tx, instance_id: str, entries: Sequence[tuple[str, str]]) -> None:
    """Append ``(key, value)`` entries to the instance's streams, in order (per key)."""
    by_key: dict[str, list[str]] = {}
    for key, value in entries:
        by_key.setdefault(key, []).append(value)
    for key in sorted(by_key):  # one order of locks: two writers cannot deadlock
        await tx.conn.execute(_LOCK, instance_id, key)
        await tx.conn.execute(_APPEND, instance_id, key, by_key[key])
    _announce(tx, instance_id)


async def answer(tx: Tx, instance_id: str, answers: Sequence[RespondUpdate]) -> None:
    """Store the answers (a second answer to one update id keeps the first)."""
    await tx.conn.executemany(
        "INSERT INTO update_results (instance_id, update_id, result, rejection) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        [(instance_id, a.update_id, a.result, a.rejection) for a in answers],
    )
    _announce(tx, instance_id)


def _announce(tx: Tx, instance_id: str) -> None:
    tx.instances.add(instance_id)  # this process's waiters
    tx.finished.add(instance_id)  # ... and other processes' (the commit's NOTIFY)


async def _read(
    conn: asyncpg.Connection, instance_id: str, key: str, start: int, limit: int
) -> list[str]:
    rows = await conn.fetch(
        "SELECT value FROM streams WHERE instance_id = $1 AND key = $2 AND position >= $3 "
        "ORDER BY position LIMIT $4",
        instance_id,
        key,
        start,
        limit,
    )
    return [row[0] for row in rows]


async def _answer_of(
    conn: asyncpg.Connection, instance_id: str, update_id: str
) -> UpdateAnswer | None:
    row = await conn.fetchrow(
        "SELECT result, rejection FROM update_results WHERE instance_id = $1 AND update_id = $2",
        instance_id,
        update_id,
    )
    return None if row is None else UpdateAnswer(row[0], row[1])


class OutputTables:
    """The ``OutputStore`` calls of ``PostgresStore`` (which sets ``_db`` and ``_waiters``)."""

    _db: Database
    _waiters: _hub.Waiters

    async def append_stream(self, instance_id: str, entries: Sequence[tuple[str, str]]) -> None:
        """See ``OutputStore.append_stream``."""
        await self._db.run(lambda tx: append(tx, instance_id, entries), "append_stream")

    async def read_stream(
        self, instance_id: str, key: str, start: int, limit: int = READ_LIMIT
    ) -> list[str]:
        """See ``OutputStore.read_stream``."""
        return await self._db.read(
            lambda conn: _read(conn, instance_id, key, start, limit), "read_stream"
        )

    async def get_update_answer(self, instance_id: str, update_id: str) -> UpdateAnswer | None:
        """See ``OutputStore.get_update_answer``."""
        return await self._db.read(
            lambda conn: _answer_of(conn, instance_id, update_id), "get_update_answer"
        )

    async def wait_for_output(
        self, instance_id: str, timeout: float, since: int | None = None
    ) -> None:
        """See ``OutputStore.wait_for_output``: woken by the instance's notifications (here at
        once, elsewhere through LISTEN)."""
        key = self._db.instance_key(instance_id)
        await self._waiters.wait(key, timeout, self._db.wait, since=since)
