"""The heartbeat details of running attempts, stored with the lease renewals and on a failure
(so the next attempt resumes from them)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from .._errors import SerializationError
from .._serde import Serializer
from ..stores.base import ActivityWorkItem
from .attempts import _Attempt

logger = logging.getLogger("durable.worker")

#: stores an attempt's encoded details
Save = Callable[[ActivityWorkItem, "str | None"], Awaitable[None]]


class Heartbeats:
    """The running attempts whose latest ``durable.heartbeat(details)`` may need storing."""

    def __init__(self, serializer: Serializer) -> None:
        self._serializer = serializer
        self._running: dict[int, tuple[ActivityWorkItem, _Attempt]] = {}

    def track(self, item: ActivityWorkItem, attempt: _Attempt) -> None:
        self._running[item.id] = (item, attempt)

    def untrack(self, item: ActivityWorkItem) -> None:
        self._running.pop(item.id, None)

    async def flush_all(self, save: Save) -> None:
        """Store the new details of every running attempt."""
        for item, attempt in list(self._running.values()):
            await self.flush(item, attempt, save)

    async def flush(self, item: ActivityWorkItem, attempt: _Attempt, save: Save) -> None:
        """Store the attempt's latest details, if it recorded new ones since the last flush."""
        if not attempt.details_pending:
            return
        attempt.details_pending = False
        try:
            details = self._serializer.encode(attempt.details, path="heartbeat details")
        except SerializationError as exc:
            logger.warning(
                "heartbeat details dropped: %s", exc, extra={"instance_id": item.instance_id}
            )
            return
        await save(item, details)
