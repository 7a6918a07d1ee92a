"""The App's declarations of flow control and time: limited queues and schedules (DESIGN 4, 4a).

Declared here, enforced by the store: a worker claims a declared queue's attempts through
``Store.claim_queued_activity`` with these limits, and starts each schedule's slots (``_worker``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .._errors import ConfigurationError
from .._flow import QueueLimits, check_queue
from .._schedule import CatchUp, ScheduleDefinition, define

if TYPE_CHECKING:
    from .._serde import Serializer
    from .registry import Orchestrator


class FlowRegistry:
    """``app.queue`` and ``app.schedule`` (mixed into ``App``)."""

    serializer: Serializer
    queues: dict[str, QueueLimits]
    schedules: dict[str, ScheduleDefinition]

    def resolve_orchestrator(self, ref: Any) -> Orchestrator[Any, Any]:  # pragma: no cover
        raise NotImplementedError  # App's

    def queue(
        self,
        name: str,
        *,
        concurrency: int | None = None,
        rate: tuple[int, timedelta | float] | None = None,
    ) -> QueueLimits:
        """Declare queue ``name``, optionally limited: at most ``concurrency`` attempts running
        at once and ``rate=(count, period)`` started per period, across every worker and host
        (the store's claim enforces them). A declared queue's attempts are claimed lowest
        ``priority`` first and round-robin between ``fairness_key``s."""
        limits = check_queue(name, concurrency, rate)
        if name in self.queues:
            raise ConfigurationError(f"app.queue({name!r}) is declared already")
        self.queues[name] = limits
        return limits

    def schedule(
        self,
        fn: Callable[..., Any] | str,
        *,
        cron: str | None = None,
        every: timedelta | float | None = None,
        args: Sequence[Any] = (),
        instance_id_prefix: str | None = None,
        catch_up: CatchUp = "one",
    ) -> ScheduleDefinition:
        """Start an instance of orchestrator ``fn`` with ``args`` on every slot of ``cron`` (a
        cron expression, UTC) or ``every`` (an interval of whole seconds), once per slot
        however many workers run; its instance id is ``instance_id_prefix`` (default: the
        orchestrator's name and ``@``) and the slot's UTC time. After downtime, ``catch_up``
        starts none of the missed slots (``"skip"``), the newest (``"one"``) or all."""
        found = self.resolve_orchestrator(fn)
        if not isinstance(args, Sequence) or isinstance(args, str):
            raise ConfigurationError(f"app.schedule({found.name!r}): args must be a list or tuple")
        payload = self.serializer.encode_call(
            found.fn, found.name, tuple(args), {}, skip_first=True
        )
        prefix = instance_id_prefix if instance_id_prefix is not None else f"{found.name}@"
        definition = define(prefix, found.name, payload, cron=cron, every=every, catch_up=catch_up)
        if prefix in self.schedules:
            raise ConfigurationError(
                f"app.schedule({found.name!r}): instance_id_prefix {prefix!r} is used by "
                "another schedule; pass another instance_id_prefix"
            )
        self.schedules[prefix] = definition
        return definition
