"""The event-loop watchdog: say so when something blocks the worker's loop.

Episodes and ``async def`` activities run on the worker's event loop. Code there that does not
await (``time.sleep``, a busy loop, blocking I/O) freezes the worker: no claims, no lease
renewals (other workers take its work over), no other instance moves. Before, that happened
with no word. A thread checks that the loop keeps ticking; past ``STALL_SECONDS`` it logs one
WARNING naming the file and line the loop is stuck at, and one more when it runs again (as
Temporal's deadlock detector does at about 2 s).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback

import anyio

logger = logging.getLogger("durable.worker")

#: how long the loop may go without ticking before the watchdog warns
STALL_SECONDS = 2.0
#: how often the loop ticks, and the watchdog looks
_TICK = 0.1


async def watch_loop(stall_seconds: float | None = None) -> None:
    """Tick on the loop until cancelled, while a thread watches the ticks."""
    limit = STALL_SECONDS if stall_seconds is None else stall_seconds
    state = _Ticks(threading.get_ident())
    stop = threading.Event()
    watcher = threading.Thread(
        target=_watch, args=(state, stop, limit), name="durable-loop-watchdog", daemon=True
    )
    watcher.start()
    try:
        while True:
            now = time.monotonic()
            if now - state.last > limit:  # said by the loop itself: it runs again
                logger.warning(
                    "the worker's event loop runs again after %.1f s blocked", now - state.last
                )
            state.last = now
            await anyio.sleep(_TICK)
    finally:
        stop.set()


class _Ticks:
    def __init__(self, loop_thread: int) -> None:
        self.loop_thread = loop_thread
        self.last = time.monotonic()


def _watch(state: _Ticks, stop: threading.Event, limit: float) -> None:
    stalled_since: float | None = None
    while not stop.wait(_TICK):
        silent = time.monotonic() - state.last
        if silent > limit and stalled_since is None:
            stalled_since = state.last
            logger.warning(
                "the worker's event loop has been blocked for %.1f s at %s: code on the loop "
                "(an orchestrator, or an async activity) is not awaiting; nothing else runs and "
                "leases are not renewed meanwhile",
                silent,
                _where(state.loop_thread),
            )
        elif silent <= limit:
            stalled_since = None


def _where(thread_id: int) -> str:
    """The innermost frame the thread runs: ``file:line in function``."""
    frame = sys._current_frames().get(thread_id)
    if frame is None:
        return "an unknown place"
    last = traceback.extract_stack(frame)[-1]
    return f"{last.filename}:{last.lineno} in {last.name}"
