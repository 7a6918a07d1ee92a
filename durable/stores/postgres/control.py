"""PostgreSQL: rewind and external completion (see ``stores.control``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import asyncpg

from ..._status import Status
from ..base import ActivityWorkItem
from ..control import FOREVER_SECONDS, Rewind
from .activities import activity_item
from .db import ACTIVITIES, ORCHESTRATIONS, Tx
from .instances import insert_message

if TYPE_CHECKING:
    from .db import Database

_REOPEN = """
UPDATE instances SET status = 'RUNNING', error = NULL, updated_at = now(), ready_at = now(),
    claims = 0, lease_owner = NULL, lease_expires_at = NULL
WHERE instance_id = $1 AND status = 'FAILED'
RETURNING execution_id
"""


async def _rewind(tx: Tx, rewinds: Sequence[Rewind]) -> bool:
    ids = sorted({rewind.instance_id for rewind in rewinds})
    locked = await tx.conn.fetch(  # in id order, as purge locks them: no deadlock between them
        "SELECT instance_id, status FROM instances WHERE instance_id = ANY($1::text[]) "
        "ORDER BY instance_id FOR UPDATE",
        ids,
    )
    statuses = {row["instance_id"]: Status(row["status"]) for row in locked}
    if statuses.get(rewinds[0].instance_id) is not Status.FAILED:
        return False
    for rewind in rewinds:
        execution_id = await tx.conn.fetchval(_REOPEN, rewind.instance_id)
        if execution_id is None:
            continue
        for message in rewind.messages:
            await insert_message(tx, rewind.instance_id, message, execution_id=execution_id)
        tx.work.add(ORCHESTRATIONS)
        tx.broadcast = True
        tx.instances.add(rewind.instance_id)
    return True


async def _hand_off(tx: Tx, item: ActivityWorkItem, owner: str, seconds: float | None) -> bool:
    status = await tx.conn.execute(
        "UPDATE activities SET lease_owner = $4, visible_at = now() + $5 * interval '1 second' "
        "WHERE id = $1 AND lease_owner = $2 AND attempt = $3",
        item.id,
        item.worker_id,
        item.attempt,
        owner,
        FOREVER_SECONDS if seconds is None else seconds,
    )
    tx.work.add(ACTIVITIES)
    tx.due = True  # its deadline is a due time now
    return bool(status != "UPDATE 0")


class ControlTables:
    """The ``ControlStore`` calls of ``PostgresStore`` (which sets ``_db``)."""

    _db: Database

    async def rewind_instances(self, rewinds: Sequence[Rewind]) -> bool:
        """See ``ControlStore.rewind_instances``."""
        return await self._db.run(lambda tx: _rewind(tx, rewinds), "rewind_instances")

    async def find_activity(self, activity_id: int) -> ActivityWorkItem | None:
        """See ``ControlStore.find_activity``."""

        async def find(conn: asyncpg.Connection) -> ActivityWorkItem | None:
            row = await conn.fetchrow("SELECT * FROM activities WHERE id = $1", activity_id)
            return None if row is None else activity_item(row, row["lease_owner"] or "")

        return await self._db.read(find, "find_activity")

    async def hand_off_activity(
        self, item: ActivityWorkItem, owner: str, seconds: float | None
    ) -> bool:
        """See ``ControlStore.hand_off_activity``."""
        return await self._db.run(
            lambda tx: _hand_off(tx, item, owner, seconds), "hand_off_activity"
        )
