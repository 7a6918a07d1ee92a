"""Schedules: their definition, their slots (cron via croniter, or a fixed interval), and the
decision of which slots to start after a look at the store's clock (DESIGN 4a).

Pure: times come in as arguments (the store's clock), nothing is read or written here. A slot is
a whole unix second (cron slots are whole minutes; ``every`` slots are multiples of the interval
counted from the epoch, so every worker computes the same slots), and a slot's instance id is
the schedule's prefix and the slot's UTC time: two workers that start one slot start one id, and
the store refuses the second.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ._durations import to_seconds
from ._errors import ConfigurationError
from ._text import check_text

CatchUp = Literal["skip", "one", "all"]
_CATCH_UP = ("skip", "one", "all")
#: the most slots ``catch_up="all"`` starts at one look (a year of minutes is not a backlog
#: anyone wants at once); the rest are skipped
MAX_CATCH_UP = 1000
#: a slot found this late (in seconds, at most half the interval) is on time, not missed
ON_TIME_WITHIN = 60.0


@dataclass(frozen=True, slots=True)
class ScheduleDefinition:
    """One schedule, as ``app.schedule`` declares it and the store keeps it (JSON)."""

    #: the schedule's id: its instance id prefix
    schedule_id: str
    #: the orchestrator it starts
    name: str
    #: the encoded call payload of every instance it starts
    input: str
    cron: str | None = None
    every: float | None = None
    catch_up: CatchUp = "one"

    def to_json(self) -> str:
        fields: dict[str, Any] = {
            "schedule_id": self.schedule_id,
            "name": self.name,
            "input": self.input,
            "cron": self.cron,
            "every": self.every,
            "catch_up": self.catch_up,
        }
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ScheduleDefinition:
        data = json.loads(text)
        return cls(**{key: data.get(key) for key in _FIELDS if key in data})

    def slots_after(self, after: float, until: float, limit: int) -> list[int]:
        """The slots in ``(after, until]``, oldest first, the newest ``limit`` of them."""
        if self.every is not None:
            step = self.every
            first = math.floor(after / step) + 1
            last = math.floor(until / step)
            if last < first:
                return []
            first = max(first, last - limit + 1)
            return [int(k * step) for k in range(first, last + 1)]
        found: list[int] = []
        cron = _croniter()(str(self.cron), datetime.fromtimestamp(after, UTC))
        while True:
            slot = int(cron.get_next(float))
            if slot > until:
                return found[-limit:]
            found.append(slot)
            if len(found) > 2 * limit:
                del found[:limit]

    def next_slots(self, after: float, count: int) -> list[datetime]:
        """The next ``count`` slots after ``after`` (for ``durable schedule list``)."""
        slots: list[datetime] = []
        if self.every is not None:
            k = math.floor(after / self.every) + 1
            return [datetime.fromtimestamp((k + i) * self.every, UTC) for i in range(count)]
        cron = _croniter()(str(self.cron), datetime.fromtimestamp(after, UTC))
        for _ in range(count):
            slots.append(datetime.fromtimestamp(cron.get_next(float), UTC))
        return slots

    def interval(self, around: float) -> float:
        """The time between two slots near ``around`` (seconds)."""
        if self.every is not None:
            return self.every
        pair = self.next_slots(around, 2)
        return (pair[1] - pair[0]).total_seconds()

    def instance_id(self, slot: int) -> str:
        """The instance id of ``slot``: the prefix and the slot's UTC time."""
        moment = datetime.fromtimestamp(slot, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{self.schedule_id}{moment}"


_FIELDS = ("schedule_id", "name", "input", "cron", "every", "catch_up")


@dataclass(frozen=True, slots=True)
class Decision:
    """The slots to start now, and the new last slot handled."""

    start: list[int]
    last_slot: int


def decide(definition: ScheduleDefinition, last_slot: int, now: float) -> Decision | None:
    """Which slots to start when the store's clock reads ``now`` and slots up to ``last_slot``
    are handled; None when no slot is due.

    The newest due slot starts if it is on time (found within ``ON_TIME_WITHIN`` seconds, and
    within half the interval); the others were missed (the workers were down, or the schedule
    paused): ``catch_up`` says which of them start: none, the newest, or all (at most
    ``MAX_CATCH_UP``).
    """
    due = definition.slots_after(last_slot, now, MAX_CATCH_UP + 1)
    if not due:
        return None
    newest = due[-1]
    grace = min(ON_TIME_WITHIN, definition.interval(newest) / 2)
    missed = due if now - newest > grace else due[:-1]
    on_time = [] if now - newest > grace else [newest]
    policy = definition.catch_up
    caught = [] if policy == "skip" else missed[-1:] if policy == "one" else missed
    return Decision(caught[-MAX_CATCH_UP:] + on_time, newest)


def define(
    schedule_id: object,
    name: str,
    payload: str,
    *,
    cron: object,
    every: object,
    catch_up: object,
) -> ScheduleDefinition:
    """A checked definition for ``app.schedule``: exactly one of ``cron`` and ``every``."""
    what = f"app.schedule({name!r})"
    if not isinstance(schedule_id, str) or not schedule_id:
        raise ConfigurationError(f"{what}: instance_id_prefix must be a non-empty str")
    check_text(schedule_id, f"{what}: instance_id_prefix")
    if (cron is None) == (every is None):
        raise ConfigurationError(f"{what}: pass exactly one of cron= and every=")
    if catch_up not in _CATCH_UP:
        raise ConfigurationError(f"{what}: catch_up={catch_up!r}: use 'skip', 'one' or 'all'")
    seconds = None
    if every is not None:
        seconds = to_seconds(every, f"{what}: every", allow_zero=False)
        if seconds != int(seconds):
            raise ConfigurationError(f"{what}: every must be a whole number of seconds")
    if cron is not None and (not isinstance(cron, str) or not _croniter().is_valid(cron)):
        raise ConfigurationError(f"{what}: cron={cron!r} is not a valid cron expression")
    return ScheduleDefinition(
        schedule_id=schedule_id,
        name=name,
        input=payload,
        cron=cron if isinstance(cron, str) else None,
        every=seconds,
        catch_up=catch_up,  # type: ignore[arg-type]
    )


def _croniter() -> Any:
    """croniter, imported on first use: a command that only reads an instance (``durable
    status``) imports this module through the registry, and croniter with dateutil costs
    ~10 ms of its start-up (W11)."""
    from croniter import croniter

    return croniter
