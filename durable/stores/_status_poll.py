"""One poll for every ``wait_for_instance`` of a store: status changes made by other processes.

In-process commits wake waiters through the hub at once. A commit by another process (a worker
sharing the SQLite file) is seen only by reading. Each waiter polling on its own made a client
awaiting a thousand results issue a thousand reads per poll interval; here one task reads the
statuses of every awaited instance in one query and wakes the waiters of those that changed. It
runs only while someone waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

import anyio

from .._errors import StoreError
from .._status import Status
from . import _hub

logger = logging.getLogger("durable.store")

#: statuses of the awaited instances, by id (a missing id was purged or never existed)
ReadStatuses = Callable[[list[str]], Awaitable[dict[str, Status]]]


class StatusPoll:
    """Polls the statuses of awaited instances every ``interval`` seconds while any is awaited.

    ``key_of`` gives the hub key that ``wait_for_instance`` waits on for an instance id.
    """

    def __init__(self, read: ReadStatuses, key_of: Callable[[str], str], interval: float) -> None:
        self._read = read
        self._key_of = key_of
        self._interval = interval
        self._awaited: Counter[str] = Counter()
        self._seen: dict[str, Status | None] = {}
        self._task: asyncio.Task[None] | None = None

    async def awaiting(self, instance_id: str, wait: Awaitable[None]) -> None:
        """Run ``wait`` (a hub wait on the instance's key) with ``instance_id`` polled meanwhile."""
        self._awaited[instance_id] += 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())
        try:
            await wait
        finally:
            self._awaited[instance_id] -= 1
            if self._awaited[instance_id] <= 0:
                del self._awaited[instance_id]
                self._seen.pop(instance_id, None)

    async def close(self) -> None:
        """Stop polling (the store is closing)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _poll(self) -> None:
        while self._awaited:
            await anyio.sleep(self._interval)
            ids = list(self._awaited)
            try:
                statuses = await self._read(ids)
            except StoreError as exc:  # the waiters' own timeouts still bound their wait
                logger.debug("status poll failed: %s", exc)
                continue
            for instance_id in ids:
                if instance_id not in self._awaited:  # its waiter left during the read
                    continue
                status = statuses.get(instance_id)
                first = instance_id not in self._seen
                before = self._seen.get(instance_id)
                self._seen[instance_id] = status
                # a change since the last poll, or a first look at a finished (or gone) instance:
                # it may have finished between the waiter's read and this poll
                if (not first and status != before) or (
                    first and (status is None or status.is_terminal)
                ):
                    _hub.notify(self._key_of(instance_id))
