"""SQLite: rewind and external completion (see ``stores.control`` for what each call does)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..._status import Status
from ..base import ActivityWorkItem
from ..control import FOREVER_SECONDS, Rewind
from .instances import insert_message
from .rows import Tx, activity_item

if TYPE_CHECKING:
    from .db import Database

_REOPEN = """
UPDATE instances SET status = 'RUNNING', error = NULL, updated_at = ?, ready_at = 0, claims = 0,
    lease_owner = NULL, lease_expires_at = NULL
WHERE instance_id = ? AND status = 'FAILED'
RETURNING execution_id
"""


def _rewind(tx: Tx, rewinds: Sequence[Rewind]) -> bool:
    first = tx.one("SELECT status FROM instances WHERE instance_id = ?", (rewinds[0].instance_id,))
    if first is None or Status(first[0]) is not Status.FAILED:
        return False
    for rewind in rewinds:
        row = tx.one(_REOPEN, (tx.now, rewind.instance_id))
        if row is None:
            continue
        for message in rewind.messages:
            insert_message(tx, rewind.instance_id, message, execution_id=row[0])
        tx.instances.add(rewind.instance_id)
    return True


def _hand_off(tx: Tx, item: ActivityWorkItem, owner: str, seconds: float | None) -> bool:
    cursor = tx.execute(
        "UPDATE activities SET lease_owner = ?, visible_at = ? "
        "WHERE id = ? AND lease_owner = ? AND attempt = ?",
        (
            owner,
            tx.now + (FOREVER_SECONDS if seconds is None else seconds),
            item.id,
            item.worker_id,
            item.attempt,
        ),
    )
    tx.work = True  # its deadline is a due time now
    return bool(cursor.rowcount)


def _find(conn: sqlite3.Connection, activity_id: int) -> ActivityWorkItem | None:
    row = conn.execute("SELECT * FROM activities WHERE id = ?", (activity_id,)).fetchone()
    return None if row is None else activity_item(row, row["lease_owner"] or "")


class ControlTables:
    """The ``ControlStore`` calls of ``SQLiteStore`` (which sets ``_db``)."""

    _db: Database

    async def rewind_instances(self, rewinds: Sequence[Rewind]) -> bool:
        """See ``ControlStore.rewind_instances``."""
        return await self._db.write(lambda tx: _rewind(tx, rewinds), "rewind_instances")

    async def find_activity(self, activity_id: int) -> ActivityWorkItem | None:
        """See ``ControlStore.find_activity``."""

        return await self._db.read(lambda conn, _: _find(conn, activity_id), "find_activity")

    async def hand_off_activity(
        self, item: ActivityWorkItem, owner: str, seconds: float | None
    ) -> bool:
        """See ``ControlStore.hand_off_activity``."""
        return await self._db.write(
            lambda tx: _hand_off(tx, item, owner, seconds), "hand_off_activity"
        )
