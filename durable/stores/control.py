"""The store calls of rewind and external completion (``Store`` includes them).

* ``rewind_instances``: a FAILED instance (and the failed sub-orchestrations under it that its
  rewind retries) go back to RUNNING with an ``ExecutionRewound`` message, in one transaction,
  so that a parent never waits for a child that was left FAILED.
* ``find_activity``, ``hand_off_activity``: an attempt whose activity returned
  ``durable.complete_later()`` passes its lease to an external owner (a random name that only
  the attempt's token carries) until a deadline; the token's holder completes or fails it with
  ``complete_activity``/``fail_activity`` as that owner, so the rule that only the attempt
  holding the row can record its outcome (a stale worker never wins) holds for it too.

Layer L2: the vocabulary only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .._events import HistoryEvent

if TYPE_CHECKING:
    from .base import ActivityWorkItem

#: the lease owner of a handed-off attempt starts with this
EXTERNAL_OWNER = "external:"
#: a handed-off attempt with no deadline waits this long (a century): for ever, in practice
FOREVER_SECONDS = 100 * 365 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Rewind:
    """An instance to take back to RUNNING, and the messages it gets (its current run's)."""

    instance_id: str
    messages: tuple[HistoryEvent, ...]


class ControlStore(Protocol):
    """Rewind and external completion (see the module docstring)."""

    async def rewind_instances(self, rewinds: Sequence[Rewind]) -> bool:
        """In one transaction: each listed instance that is FAILED becomes RUNNING (its error
        cleared, its lease and claim count reset) with its messages in its inbox, tied to its
        current run; the others are left as they are. False, writing nothing, when the first
        (the instance asked for) is missing or not FAILED."""
        ...

    async def find_activity(self, activity_id: int) -> ActivityWorkItem | None:
        """The activity row ``activity_id`` as a work item whose ``worker_id`` is the row's
        lease owner (``""`` when none), or None when there is no such row."""
        ...

    async def hand_off_activity(
        self, item: ActivityWorkItem, owner: str, seconds: float | None
    ) -> bool:
        """Pass the attempt's lease to ``owner`` for ``seconds`` (None: for ever), if ``item``
        still holds it (same attempt and lease owner); False, writing nothing, otherwise. When
        the lease runs out the row is claimable again: the next attempt runs."""
        ...
