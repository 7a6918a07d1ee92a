"""What a store does for flow control and time: claims on declared queues (limits, priority,
fairness) and the schedules' state (DESIGN sections 4 and 4a).

``Store`` includes ``FlowControl``. Guarantees every backend keeps (the conformance suite checks
each, tests/test_store_conformance_flow.py):

* ``claim_queued_activity`` leases one visible attempt of the declared queues given, whose name
  the claimer runs, like ``claim_activity``, but in order: lowest priority first (an attempt's
  own, else its instance's, else 0), then the fairness key served longest ago (an attempt's
  own, else its instance's; a key never served first), then the longest waiting. It claims
  nothing on a queue whose ``concurrency`` attempts are leased now (an expired lease does not
  count), or that started ``rate_count`` attempts in the last ``rate_period`` seconds of the
  store's clock. Claims are serialized per queue across every process and host, so a limit
  holds however many workers claim. The general ``claim_activity`` is never asked for a
  declared queue, nor are a commit's eager claims (a worker leaves them out of its spec).
* Schedules: ``put_schedule`` records a definition (JSON) or replaces it, keeping the
  schedule's state; a new one starts with its last slot at the store's clock (its first slot is
  the next one). ``advance_schedule`` moves the last slot from ``expected`` to ``to`` only if it
  is still ``expected`` (one worker wins each look); ``pause_schedule(paused=False)`` resumes
  with the last slot at the store's clock (slots passed while paused are not caught up).
* Tags (``NewInstance.tags``) are kept with the instance, returned in ``InstanceRecord.tags``,
  filter ``list_instances`` (``InstanceFilter.tags``) through an index, and go when the
  instance is purged.

This module is layer L2: the vocabulary only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from .._flow import QueueLimits

if TYPE_CHECKING:
    from .base import ActivityWorkItem, ClaimSpec, NewInstance


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """A schedule as the store keeps it."""

    schedule_id: str
    #: ``ScheduleDefinition.to_json()``
    definition: str
    paused: bool
    #: the newest slot handled (unix seconds)
    last_slot: int


@dataclass(frozen=True, slots=True)
class Schedules:
    """Every schedule, read at ``now`` of the store's clock."""

    now: datetime
    schedules: list[ScheduleState]


class FlowControl(Protocol):
    """Declared queues' claims and the schedules' state (see the module's guarantees)."""

    async def claim_queued_activity(
        self, spec: ClaimSpec, queues: Sequence[QueueLimits]
    ) -> ActivityWorkItem | None:
        """Lease the next attempt of ``queues`` (in the order given) that their limits allow."""

    async def put_schedule(self, schedule_id: str, definition: str) -> None:
        """Record or replace a schedule's definition, keeping its state."""

    async def get_schedules(self) -> Schedules:
        """Every schedule, and the store's clock."""

    async def advance_schedule(self, schedule_id: str, expected: int, to: int) -> bool:
        """Move the last slot from ``expected`` to ``to``; False if it was not ``expected``."""

    async def pause_schedule(self, schedule_id: str, paused: bool) -> bool:
        """Pause or resume; False when there is no such schedule."""


#: the fairness key of an attempt that has none (nor has its instance)
NO_KEY = ""


def has_options(new: NewInstance) -> bool:
    """Whether a start carries flow options (tags, priority, fairness key, a delayed start):
    such a start takes a plain path, never a worker's eager one."""
    return bool(
        new.tags
        or new.priority is not None
        or new.fairness_key is not None
        or new.start_at is not None
        or new.start_delay
    )
