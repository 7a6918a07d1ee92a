"""What a store keeps besides instances: the workers that announce themselves, and the trace
context each instance was started in (DESIGN sections 7 and 7a).

``Store`` includes ``WorkerRegistry``. Guarantees every backend keeps (the conformance suite
checks each, tests/test_store_conformance_workers.py):

* ``announce_worker`` records a worker, or renews it (the same ``worker_id``): its description
  is replaced, its ``started_at`` kept, its ``last_seen_at`` set to the store's clock.
* ``list_workers(seen_within=s)`` gives the workers seen in the last ``s`` seconds of the
  store's clock, oldest first; ``withdraw_worker`` removes one (idempotent).
* ``queue_depths(queues)`` counts, per queue asked for, the activity attempts that could be
  claimed now (scheduled or due for a retry, or whose lease ran out), 0 for an empty queue.
* ``save_trace_context`` keeps the first context saved for an instance id (a later one is
  ignored: an idempotent start keeps the first start's trace); ``get_trace_context`` returns it
  or None; purging the instance removes it.

This module is layer L2: the vocabulary only.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

#: how long a worker stays listed after it was last seen, unless it renews (a worker renews
#: its announcement every ``ANNOUNCE_EVERY`` seconds)
ANNOUNCE_EVERY = 5.0
LIVE_WITHIN = 3 * ANNOUNCE_EVERY


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker as it announced itself."""

    worker_id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    orchestrators: tuple[str, ...]
    activities: tuple[str, ...]
    #: the store's clock when it first announced itself, and when it last renewed
    started_at: datetime | None = None
    last_seen_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "worker_id": self.worker_id,
            "host": self.host,
            "pid": self.pid,
            "queues": list(self.queues),
            "orchestrators": list(self.orchestrators),
            "activities": list(self.activities),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "last_seen_at": self.last_seen_at.isoformat() if self.last_seen_at else None,
        }


class WorkerRegistry(Protocol):
    """The live workers and the instances' trace contexts (see the module's guarantees)."""

    async def announce_worker(self, worker: WorkerInfo) -> None:
        """Record or renew ``worker`` (``started_at`` and ``last_seen_at`` are the store's)."""

    async def withdraw_worker(self, worker_id: str) -> None:
        """Remove a worker (it stopped). Idempotent."""

    async def list_workers(self, *, seen_within: float = LIVE_WITHIN) -> list[WorkerInfo]:
        """The workers seen in the last ``seen_within`` seconds, oldest first."""

    async def queue_depths(self, queues: Collection[str]) -> dict[str, int]:
        """How many activity attempts each of ``queues`` holds that could be claimed now."""

    async def save_trace_context(self, instance_id: str, context: str) -> None:
        """Keep ``context`` (W3C trace headers as JSON text) for the instance, unless one is
        kept already."""

    async def get_trace_context(self, instance_id: str) -> str | None:
        """The trace context kept for the instance, or None."""


def names_of(worker: WorkerInfo) -> tuple[str, str, str]:
    """The worker's queues, orchestrators and activities as JSON lists (for SQL rows)."""
    import json

    return (
        json.dumps(sorted(worker.queues)),
        json.dumps(sorted(worker.orchestrators)),
        json.dumps(sorted(worker.activities)),
    )


def from_row(row: Any, started_at: datetime, last_seen_at: datetime) -> WorkerInfo:
    """A worker from its SQL row (names as JSON lists, times already converted)."""
    import json

    return WorkerInfo(
        worker_id=row["worker_id"],
        host=row["host"],
        pid=int(row["pid"]),
        queues=tuple(json.loads(row["queues"])),
        orchestrators=tuple(json.loads(row["orchestrators"])),
        activities=tuple(json.loads(row["activities"])),
        started_at=started_at,
        last_seen_at=last_seen_at,
    )
