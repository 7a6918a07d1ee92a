"""Retrying a store operation: the first attempt runs bare, tenacity takes over on a failure.

Building an ``AsyncRetrying`` and going through its machinery for every call cost about a tenth
of a busy worker's CPU, for operations that almost never fail. Only a failure that ``retryable``
accepts pays for it; the policy then runs its full course (its first attempt is the second one).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # tenacity loads with the first policy built (a short command needs none)
    import tenacity

T = TypeVar("T")


async def retried(
    attempt: Callable[[], Awaitable[T]],
    retryable: Callable[[BaseException], bool],
    policy: Callable[[], tenacity.AsyncRetrying],
) -> T:
    """``await attempt()``; if it raises an error ``retryable`` accepts, run it under ``policy``."""
    try:
        return await attempt()
    except Exception as exc:
        if not retryable(exc):
            raise
    result: T = await policy()(attempt)
    return result
