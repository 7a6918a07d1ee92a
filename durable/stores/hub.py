"""In-process wake-ups: a store that writes tells the waiters of the same database at once.

Keys name a database (its absolute path, or a memory store's own key) or an instance in it.
Several store objects on one file in one process share the registry, so a Client's create wakes a
Worker's ``wait_for_work`` immediately. Nothing crosses processes: there the caller's timeout (the
worker's poll interval) is the fallback.

Each key has a generation counter besides its event. A waiter that remembers the generation it
last saw returns at once when a notification came in between (while it was busy claiming), so a
notification is never lost in the gap between "found nothing" and "wait".
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio


@dataclass
class _Signal:
    event: anyio.Event = field(default_factory=anyio.Event)
    generation: int = 0
    waiters: int = 0


#: above this many keys, those nobody waits on are dropped (a dropped key costs at most one
#: early return of a waiter that remembered its generation)
_MAX_IDLE_KEYS = 4096


# One registry per event loop: anyio events belong to the loop that created them. Keyed by the
# loop itself rather than through anyio's RunVar, whose lookup cost more than the rest of a
# notify (it is on every commit's path).
_SIGNALS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Signal]] = (
    weakref.WeakKeyDictionary()
)


def _signals() -> dict[str, _Signal]:
    loop = asyncio.get_running_loop()
    signals = _SIGNALS.get(loop)
    if signals is None:
        signals = _SIGNALS[loop] = {}
    return signals


def notify(key: str) -> None:
    """Wake every task waiting on ``key`` (set the event, then replace it for the next wait)."""
    signals = _signals()
    old = signals.get(key)
    if old is None:
        if len(signals) >= _MAX_IDLE_KEYS:
            _prune(signals)
        signals[key] = _Signal(generation=1)
        return
    old.event.set()
    # keep counting, so that waiters comparing generations see the change
    signals[key] = _Signal(generation=old.generation + 1, waiters=old.waiters)


def _prune(signals: dict[str, _Signal]) -> None:
    for key in [key for key, signal in signals.items() if not signal.waiters]:
        del signals[key]


def generation(key: str) -> int:
    """How many times ``key`` was notified in this event loop."""
    signal = _signals().get(key)
    return 0 if signal is None else signal.generation


async def wait(key: str, timeout: float, *, seen: int | None = None) -> int:
    """Wait until ``key`` is notified or ``timeout`` seconds pass; return the generation then.

    With ``seen`` (a generation returned earlier), return at once if ``key`` was notified since.
    """
    signals = _signals()
    signal = signals.get(key)
    if signal is None:
        signal = signals[key] = _Signal()
    if seen is not None and signal.generation != seen:
        return signal.generation
    signal.waiters += 1
    try:
        with anyio.move_on_after(max(timeout, 0.0)):
            await signal.event.wait()
    finally:
        current = signals.get(key)
        if current is not None:
            current.waiters -= 1
    return generation(key)


class Waiters:
    """Remembers, per task and key, the generation each task saw when its wait last returned,
    so that a notification arriving while the task was busy (claiming, reading) is not lost."""

    def __init__(self) -> None:
        self._seen: dict[tuple[int, str], int] = {}

    async def wait(
        self,
        key: str,
        timeout: float,
        waiting: Callable[[str, float, int | None], Awaitable[int]] | None = None,
        *,
        since: int | None = None,
    ) -> None:
        """Wait on ``key`` (through ``waiting``, a ``wait``-like function, if given); ``since``:
        a generation the caller saw itself (``generation``), in place of the remembered one."""
        slot = (anyio.get_current_task().id, key)
        seen = self._seen.pop(slot, None)
        if since is not None:
            seen = since
        if len(self._seen) > 1024:  # tasks come and go; forgetting costs one early return
            self._seen.clear()
        if waiting is None:
            self._seen[slot] = await wait(key, timeout, seen=seen)
        else:
            self._seen[slot] = await waiting(key, timeout, seen)
