"""Slots: how many episodes, or activity attempts, a worker runs at once; and one step at a
time per instance."""

from __future__ import annotations

from collections import deque

import anyio


class Slots:
    """A count of free places for one kind of work; taken before the work is claimed."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._free = anyio.Semaphore(total)

    async def take(self) -> None:
        """Wait for a free slot and take it.

        A free slot is taken at once: ``Semaphore.acquire`` yields to the loop twice even then
        (two turns per claimed item, a twentieth of an activity's cost on W4). The claim that
        follows yields anyway, so a loop taking free slots still lets other tasks run.
        """
        try:
            self._free.acquire_nowait()
        except anyio.WouldBlock:
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


class InstanceLocks:
    """One holder at a time per instance, first come first served.

    Taking a free instance costs no trip through the event loop (an ``anyio.Lock`` yields on
    every acquire, which the hot path of a step would pay twice); only a contended one waits.
    """

    def __init__(self) -> None:
        #: held instances, and who waits for each (handed over in order on release)
        self._held: dict[str, deque[anyio.Event]] = {}

    def hold(self, instance_id: str) -> _Hold:
        """Hold ``instance_id`` for the body of ``async with``."""
        return _Hold(self, instance_id)

    def _take_now(self, instance_id: str) -> bool:
        if instance_id in self._held:
            return False
        self._held[instance_id] = deque()
        return True

    async def _wait(self, instance_id: str) -> None:
        """Wait for the holder of ``instance_id`` to hand it over."""
        waiting = self._held[instance_id]
        turn = anyio.Event()
        waiting.append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn.is_set():  # handed over as we were cancelled: pass it on
                self._release(instance_id)
            else:
                waiting.remove(turn)
            raise

    def _release(self, instance_id: str) -> None:
        waiting = self._held[instance_id]
        if waiting:
            waiting.popleft().set()  # the next holder owns it now
        else:
            del self._held[instance_id]


class _Hold:
    """``async with locks.hold(id)``: a plain class, no generator-based context manager on the
    path of every step."""

    __slots__ = ("_instance_id", "_locks")

    def __init__(self, locks: InstanceLocks, instance_id: str) -> None:
        self._locks = locks
        self._instance_id = instance_id

    async def __aenter__(self) -> None:
        if not self._locks._take_now(self._instance_id):
            await self._locks._wait(self._instance_id)

    async def __aexit__(self, *exc: object) -> None:
        self._locks._release(self._instance_id)
