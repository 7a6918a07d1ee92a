"""The in-process wake-up hub: a notification is never lost between two waits of one task."""

from __future__ import annotations

import anyio

from durable.stores import hub as _hub


async def timed(call: object) -> float:
    began = anyio.current_time()
    await call  # type: ignore[misc]
    return anyio.current_time() - began


async def test_a_wait_since_a_generation_is_remembered_for_the_next_wait() -> None:
    waiters = _hub.Waiters()
    mark = _hub.generation("k")
    _hub.notify("k")  # came before the first wait: it returns at once
    assert await timed(waiters.wait("k", 10, since=mark)) < 1
    _hub.notify("k")  # came between the two waits (while the task read, say)
    assert await timed(waiters.wait("k", 10)) < 1
    assert await timed(waiters.wait("k", 0.2)) >= 0.15  # nothing since: it waits


async def test_a_notification_while_busy_ends_the_next_wait() -> None:
    waiters = _hub.Waiters()
    assert await timed(waiters.wait("j", 0.05)) >= 0.04
    _hub.notify("j")
    assert await timed(waiters.wait("j", 10)) < 1
