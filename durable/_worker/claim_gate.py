"""How a worker's idle claim loops wait: one watches the store, the others park.

A worker runs several claim loops per kind of work, so that a burst is claimed by several at once
(and the store can batch their claims). Letting every idle loop wait on the store woke them all
on every write, and each then paid a claim transaction that found nothing: thousands of empty
claims per second on a busy store. Now only one idle loop (the watcher) waits on the store. A
loop that finds work claims again at once; when that finds work too (a burst, not a single item),
it wakes one parked loop, so a burst draws in one more loop per item found, and each loop that
finds nothing parks again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from ..stores.base import ClaimSpec

#: episodes one claim may lease at once (as many orchestration slots as are free, up to this):
#: timers that fall due together are claimed together, in one transaction, not one each
EPISODE_CLAIM_BATCH = 16


class ClaimGate:
    """The idle claim loops of one kind of work (orchestration episodes, or activities)."""

    def __init__(self) -> None:
        self._watching = False
        self._parked: deque[anyio.Event] = deque()

    async def idle(self, wait_for_work: Callable[[], Awaitable[object]]) -> None:
        """Wait until there may be work: on the store if nobody watches it, else parked."""
        if not self._watching:
            self._watching = True
            try:
                await wait_for_work()
            finally:
                self._watching = False
            return
        bell = anyio.Event()
        self._parked.append(bell)
        try:
            await bell.wait()
        finally:
            if not bell.is_set():
                self._parked.remove(bell)

    def found(self, streak: int) -> None:
        """A loop claimed its ``streak``-th item in a row: from the second on, this is a burst,
        so wake one parked loop to help (a lone item costs no second empty claim)."""
        if streak >= 2 and self._parked:
            self._parked.popleft().set()


def listed(
    claim: Callable[[ClaimSpec], Awaitable[Any]],
) -> Callable[[ClaimSpec, int], Awaitable[list[Any]]]:
    """A claim of one item as a claim of a batch (of at most one): the claim loop's shape."""

    async def claim_one(spec: ClaimSpec, limit: int) -> list[Any]:
        item = await claim(spec)
        return [] if item is None else [item]

    return claim_one
