"""The memory store: rewind and external completion (see ``stores.control``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import anyio

from ..._status import Status
from ..base import ActivityWorkItem
from ..control import FOREVER_SECONDS, Rewind
from .tables import Tables, Tx

if TYPE_CHECKING:
    T = TypeVar("T")


def _rewind(db: Tables, tx: Tx, rewinds: Sequence[Rewind]) -> bool:
    first = db.instances.get(rewinds[0].instance_id)
    if first is None or first.status is not Status.FAILED:
        return False
    for rewind in rewinds:
        row = db.instances.get(rewind.instance_id)
        if row is None or row.status is not Status.FAILED:
            continue
        row.status, row.error, row.updated_at = Status.RUNNING, None, tx.now
        row.ready_at, row.claims, row.lease_owner, row.lease_expires_at = 0.0, 0, None, 0.0
        for message in rewind.messages:
            db.insert_message(tx, rewind.instance_id, message, execution_id=row.execution_id)
        tx.instances.add(rewind.instance_id)
    return True


def _hand_off(
    db: Tables, tx: Tx, item: ActivityWorkItem, owner: str, seconds: float | None
) -> bool:
    row = db.held_activity(item)
    if row is None:
        return False
    row.lease_owner = owner
    row.visible_at = tx.now + (FOREVER_SECONDS if seconds is None else seconds)
    tx.work = True
    return True


class ControlTables:
    """The ``ControlStore`` calls of ``MemoryStore`` (which sets ``_db`` and ``_write``)."""

    _db: Tables

    if TYPE_CHECKING:

        def _write(self, fn: Callable[[Tx], T]) -> T: ...
        async def _ready(self) -> None: ...

    async def rewind_instances(self, rewinds: Sequence[Rewind]) -> bool:
        """See ``ControlStore.rewind_instances``."""
        await self._ready()
        return self._write(lambda tx: _rewind(self._db, tx, rewinds))

    async def find_activity(self, activity_id: int) -> ActivityWorkItem | None:
        """See ``ControlStore.find_activity``."""
        await anyio.lowlevel.checkpoint()
        row = self._db.activities.get(activity_id)
        return None if row is None else row.item(row.lease_owner or "")

    async def hand_off_activity(
        self, item: ActivityWorkItem, owner: str, seconds: float | None
    ) -> bool:
        """See ``ControlStore.hand_off_activity``."""
        await self._ready()
        return self._write(lambda tx: _hand_off(self._db, tx, item, owner, seconds))
