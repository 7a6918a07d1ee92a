"""One poll for every ``wait_for_instance`` of a store: instances finished by other processes.

In-process commits wake waiters through the hub at once. A commit by another process (a worker
sharing the SQLite file) is seen only by reading. Each waiter polling on its own made a client
awaiting a thousand results issue a thousand reads per poll interval; here one task asks which of
the awaited instances have finished, in one query, and wakes their waiters. It runs only while
someone waits, and polls less often the more instances are awaited (the query's cost grows with
them).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

import anyio

from .._errors import StoreError
from . import hub as _hub

logger = logging.getLogger("durable.store")

#: the awaited instances (ids) that have finished
ReadFinished = Callable[[list[str]], Awaitable[set[str]]]
#: awaited instances per second of polling interval at which the interval starts to grow
_IDS_PER_SECOND = 50_000


class StatusPoll:
    """Polls, every ``interval`` seconds or more, whether awaited instances have finished.

    ``key_of`` gives the hub key that ``wait_for_instance`` waits on for an instance id.
    """

    def __init__(self, read: ReadFinished, key_of: Callable[[str], str], interval: float) -> None:
        self._read = read
        self._key_of = key_of
        self._interval = interval
        self._awaited: Counter[str] = Counter()
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

    async def close(self) -> None:
        """Stop polling (the store is closing)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _poll(self) -> None:
        while self._awaited:
            await anyio.sleep(max(self._interval, len(self._awaited) / _IDS_PER_SECOND))
            try:
                finished = await self._read(list(self._awaited))
            except StoreError as exc:  # the waiters' own timeouts still bound their wait
                logger.debug("status poll failed: %s", exc)
                continue
            for instance_id in finished:
                _hub.notify(self._key_of(instance_id))
