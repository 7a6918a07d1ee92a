"""The PostgreSQL store's waits: for work (notifications, or the next due time) and for an
instance's status (``Store.wait_for_work``, ``wait_for_instance``)."""

from __future__ import annotations

import time

from .. import hub as _hub
from ..base import WorkKind
from . import claims
from .db import Database

#: a due message is waited for this much past its time, so that the claim sees it
_DUE_SLACK = 0.0005


class Waiting:
    """Mixed into ``PostgresStore``: its waits, on its database's wake-up keys."""

    _db: Database
    _waiters: _hub.Waiters
    #: (wake-up generation, monotonic time the next work falls due) as last read
    _due: tuple[int, float | None] | None = None

    async def wait_for_work(self, timeout: float, kind: WorkKind | None = None) -> None:
        """See ``Store.wait_for_work``: woken by notifications (this process's commits at once,
        other processes' through LISTEN), or when the next due time comes.

        The next due time is read when it may have moved and shared by every waiter: it moves
        earlier only through a write that makes work due later (which wakes the due key here,
        and elsewhere through its notification), and it is read again once it has passed.
        """
        generation = _hub.generation(self._db.due_key)
        if (
            self._due is None
            or self._due[0] != generation
            or (self._due[1] is not None and self._due[1] <= time.monotonic())
        ):
            # counted from the answer: the database's now() came before it, so the wait ends
            # at most a round trip late, never early (a waiter woken for a due timer claims it)
            seconds = await self._db.read(claims.seconds_to_next_due, "wait_for_work")
            self._due = (generation, None if seconds is None else time.monotonic() + seconds)
        due_at = self._due[1]
        if due_at is not None:
            timeout = min(timeout, due_at - time.monotonic() + _DUE_SLACK)
        await self._wait(self._db.work_key_of(kind), timeout)

    def instance_mark(self, instance_id: str) -> int:
        """See ``Store.instance_mark``."""
        return _hub.generation(self._db.instance_key(instance_id))

    async def wait_for_instance(
        self, instance_id: str, timeout: float, since: int | None = None
    ) -> None:
        """See ``Store.wait_for_instance``: woken when a commit finishes the instance (here at
        once, elsewhere through LISTEN); other status changes do not wake it."""
        await self._waiters.wait(
            self._db.instance_key(instance_id), timeout, self._db.wait, since=since
        )

    async def _wait(self, key: str, timeout: float) -> None:
        await self._waiters.wait(key, timeout, self._db.wait)
