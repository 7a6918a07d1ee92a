"""Virtual time: a clock that moves only when told, and the skipper that moves it when idle.

The ``Environment``'s memory store and worker both read ``VirtualClock.now`` (unix seconds), so
every due time (timers, event timeouts, retry backoffs, a continued run's delay) and every
episode's time is virtual. The clock stands still while anything runs: it moves by
``advance_to`` only, called by ``env.advance`` or by the skipper.

The skipper (``auto_skip=True``) jumps to the next due time whenever a client awaits an instance
(``handle.result()``, ``env.run``) and the store is idle: no work leased (no episode being
decided, no activity running) and none claimable. Time skips only while someone waits, as
Temporal's test server does, so a test that starts an instance and then raises an event is not
overtaken by a timeout.
"""

from __future__ import annotations

from datetime import UTC, datetime

import anyio

from ..stores import hub as _hub
from ..stores.base import ClaimSpec
from ..stores.memory.store import MemoryStore

#: the longest the skipper waits for a store change before looking again
_LOOK_AGAIN = 0.05


class VirtualClock:
    """Unix seconds that move only by ``advance_to`` (starting on a whole microsecond)."""

    def __init__(self, start: datetime | None = None) -> None:
        moment = start if start is not None else datetime.now(UTC)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        self._now = round(moment.timestamp(), 6)

    def __call__(self) -> float:
        return self._now

    def datetime(self) -> datetime:
        """The virtual time as an aware UTC datetime."""
        return datetime.fromtimestamp(self._now, UTC)

    def advance_to(self, moment: float) -> None:
        """Move to ``moment`` (unix seconds) exactly, so that what is due then is due (not
        rounded: a due time a float's last bit past the rounded one would never come); the
        clock never goes back."""
        self._now = max(self._now, moment)


async def settle(store: MemoryStore, spec: ClaimSpec, timeout: float) -> bool:
    """Wait until the store is idle for ``spec``'s worker (True), or ``timeout`` seconds pass."""
    with anyio.move_on_after(timeout):
        while True:
            seen = _hub.generation(store.change_key)
            if not store.busy(spec):
                await anyio.sleep(0)  # a task woken by the last write may still write
                if _hub.generation(store.change_key) == seen and not store.busy(spec):
                    return True
                continue
            await _hub.wait(store.change_key, _LOOK_AGAIN, seen=seen)
    return False


async def move(clock: VirtualClock, store: MemoryStore, moment: float) -> None:
    """Move the clock to ``moment`` and let the store's waiters see it."""
    clock.advance_to(moment)
    store.clock_moved()
    await store.expire_unstarted()


class Skipper:
    """Jumps virtual time to the next due time while an instance is awaited and all is idle."""

    def __init__(self, clock: VirtualClock, store: MemoryStore, spec: ClaimSpec) -> None:
        self._clock = clock
        self._store = store
        self._spec = spec
        #: how many jumps it made (for tests of the kit)
        self.jumps = 0

    async def run(self) -> None:
        """Skip until cancelled."""
        store = self._store
        while True:
            seen = _hub.generation(store.change_key)
            if store.awaited and not store.busy(self._spec):
                await anyio.sleep(0)
                changed = _hub.generation(store.change_key) != seen
                due = store.next_due()
                if not changed and store.awaited and due is not None and not store.busy(self._spec):
                    self.jumps += 1
                    await move(self._clock, store, due)
                    continue
                if changed:
                    continue
            await _hub.wait(store.change_key, _LOOK_AGAIN, seen=seen)
