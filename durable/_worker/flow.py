"""A worker's part in flow control and time: which queues it claims through the store's limited
claim, and the schedules it starts (DESIGN 4, 4a).

Declared queues (``app.queue``) are left out of the worker's general claim spec, and so out of
the eager claims a commit makes: their attempts are only ever taken by
``Store.claim_queued_activity``, which orders them and enforces the limits across every worker.

Schedules: every worker of an app with schedules records them in the store, then looks at the
store's clock (never its own) and starts the due slots. One look per schedule wins the store's
compare-and-set of the last slot handled, and a slot's instance id is fixed by the schedule and
the slot time, so however many workers look at once, each slot starts once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .._core.registry import App
from .._errors import DurableError
from .._flow import QueueLimits
from .._schedule import ScheduleDefinition, decide
from ..stores.base import NewInstance, Store
from ..stores.flow import ScheduleState

logger = logging.getLogger("durable.schedule")

#: how soon a claimer of a declared queue looks again when it found nothing: a limit may have
#: been lifted by another process (an attempt ended, the rate window moved), which sends no
#: wake-up
QUEUED_LOOK_AGAIN = 0.05
#: the longest a worker waits between two looks at its schedules
SCHEDULE_LOOK_AT_MOST = 1.0


def declared_queues(app: App, queues: Iterable[str]) -> tuple[QueueLimits, ...]:
    """The declared queues among those a worker serves, by name (the order in which a claim
    locks them on PostgreSQL: the same in every worker, so two claims never deadlock)."""
    served = set(queues)
    return tuple(limits for name, limits in sorted(app.queues.items()) if name in served)


async def register_schedules(store: Store, app: App) -> None:
    """Record the app's schedules in the store (their state is kept)."""
    for definition in app.schedules.values():
        await store.put_schedule(definition.schedule_id, definition.to_json())


async def start_due_slots(store: Store, app: App) -> float:
    """Start the due slots of the app's schedules; the seconds (of the store's clock) until the
    next slot of any of them."""
    found = await store.get_schedules()
    now = found.now.timestamp()
    wait = SCHEDULE_LOOK_AT_MOST
    for state in found.schedules:
        definition = app.schedules.get(state.schedule_id)
        if definition is None or state.paused:
            continue
        await _start_slots(store, definition, state, now)
        [upcoming] = definition.next_slots(max(now, state.last_slot), 1)
        wait = min(wait, upcoming.timestamp() - now)
    return max(wait, 0.0)


async def _start_slots(
    store: Store, definition: ScheduleDefinition, state: ScheduleState, now: float
) -> None:
    decision = decide(definition, state.last_slot, now)
    if decision is None:
        return
    if not await store.advance_schedule(state.schedule_id, state.last_slot, decision.last_slot):
        return  # another worker handled these slots
    for slot in decision.start:
        await start_slot(store, definition, slot)


async def start_slot(store: Store, definition: ScheduleDefinition, slot: int) -> bool:
    """Start the instance of ``slot``; False when it exists (started by another worker)."""
    instance_id = definition.instance_id(slot)
    created = await store.create_instance(
        NewInstance(instance_id, definition.name, definition.input)
    )
    if created:
        logger.info("schedule %s started %s", definition.schedule_id, instance_id)
    return created


# -- what clients see and do (``Client.schedules``, ``durable schedule``) --------------------------


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """A schedule as ``client.schedules()`` lists it."""

    schedule_id: str
    #: the orchestrator it starts
    name: str
    cron: str | None
    #: the interval in seconds, for an ``every=`` schedule
    every: float | None
    catch_up: str
    paused: bool
    #: the newest slot handled (started, or skipped), as the store's clock saw it
    last_slot: datetime
    #: the next slots, on the store's clock (none while paused)
    next_runs: list[datetime]

    def to_json(self) -> dict[str, Any]:
        return {
            "schedule_id": self.schedule_id,
            "name": self.name,
            "cron": self.cron,
            "every": self.every,
            "catch_up": self.catch_up,
            "paused": self.paused,
            "last_slot": self.last_slot.isoformat(),
            "next_runs": [moment.isoformat() for moment in self.next_runs],
        }


async def list_schedules(store: Store, count: int = 3) -> list[ScheduleInfo]:
    """Every schedule the store keeps, with its next ``count`` slots."""
    found = await store.get_schedules()
    now = found.now.timestamp()
    infos = []
    for state in found.schedules:
        definition = ScheduleDefinition.from_json(state.definition)
        upcoming = [] if state.paused else definition.next_slots(max(now, state.last_slot), count)
        infos.append(
            ScheduleInfo(
                schedule_id=state.schedule_id,
                name=definition.name,
                cron=definition.cron,
                every=definition.every,
                catch_up=definition.catch_up,
                paused=state.paused,
                last_slot=datetime.fromtimestamp(state.last_slot, UTC),
                next_runs=upcoming,
            )
        )
    return infos


async def definition_of(store: Store, schedule_id: str) -> ScheduleDefinition:
    """The definition of ``schedule_id``; ``DurableError`` naming the known ones if none."""
    found = await store.get_schedules()
    for state in found.schedules:
        if state.schedule_id == schedule_id:
            return ScheduleDefinition.from_json(state.definition)
    known = ", ".join(repr(state.schedule_id) for state in found.schedules) or "none"
    raise DurableError(f"no schedule {schedule_id!r} in the store (schedules: {known})")


async def trigger(store: Store, schedule_id: str) -> str:
    """Start one instance of the schedule now, outside its slots; its instance id."""
    definition = await definition_of(store, schedule_id)
    now = (await store.get_schedules()).now
    instance_id = f"{definition.instance_id(int(now.timestamp()))}-trigger-{uuid.uuid4().hex[:8]}"
    await store.create_instance(NewInstance(instance_id, definition.name, definition.input))
    return instance_id


async def pause(store: Store, schedule_id: str, paused: bool) -> None:
    """Pause or resume a schedule (resuming does not catch up the slots passed meanwhile)."""
    if not await store.pause_schedule(schedule_id, paused):
        await definition_of(store, schedule_id)  # raises, naming the schedules there are
