"""Where a worker finds the trace context of an instance's episodes and attempts: the one its
start stored with it, or for a sub-orchestration started without one, its parent's (so a
parent, its children and all their attempts are one trace)."""

from __future__ import annotations

from .._telemetry import TELEMETRY, Carrier
from ..stores.base import Store

#: parents followed at most, looking for a stored context
_MAX_PARENTS = 16


async def trace_context(store: Store, instance_id: str) -> Carrier | None:
    """The trace context stored with ``instance_id`` (or its nearest ancestor), else None."""
    current: str | None = instance_id
    for _ in range(_MAX_PARENTS):
        if current is None:
            return None
        carrier = TELEMETRY.decode(await store.get_trace_context(current))
        if carrier is not None:
            return carrier
        record = await store.get_instance(current)
        current = None if record is None else record.parent_instance_id
    return None


async def remember(store: Store, instance_id: str) -> None:
    """Have ``TELEMETRY`` know the instance's trace context (one lookup per process)."""
    if TELEMETRY.enabled:
        await TELEMETRY.remember(instance_id, lambda found: trace_context(store, found))
