"""Slots: how many episodes, or activity attempts, a worker runs at once."""

from __future__ import annotations

import anyio


class Slots:
    """A count of free places for one kind of work; taken before the work is claimed."""

    def __init__(self, total: int) -> None:
        self._free = anyio.Semaphore(total)

    async def take(self) -> None:
        """Wait for a free slot and take it."""
        await self._free.acquire()

    def take_now(self, wanted: int = 1) -> int:
        """Take up to ``wanted`` slots without waiting; how many were free."""
        taken = 0
        while taken < wanted:
            try:
                self._free.acquire_nowait()
            except anyio.WouldBlock:
                break
            taken += 1
        return taken

    def give_back(self, count: int = 1) -> None:
        """Return ``count`` slots taken earlier."""
        for _ in range(count):
            self._free.release()
