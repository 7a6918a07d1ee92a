"""The store's flow control and time (``durable.stores.flow``), on every backend: declared
queues' limits, priority and fairness; schedules' state; tags; delayed starts."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from durable._events import ActivityScheduled
from durable._flow import QueueLimits
from durable._schedule import ScheduleDefinition
from durable._status import Status
from durable.stores.base import InstanceFilter, NewInstance, Store
from durable.stores.dumps import from_json, to_json

from .test_store_conformance import W2, activity, claim, commit, create, eventually, spec

LLM = "llm"


async def schedule_activities(
    store: Store,
    instance_id: str,
    count: int,
    *,
    own_priority: int | None = None,
    own_key: str | None = None,
    **new: Any,
) -> None:
    """Create ``instance_id`` (with ``new``'s options) and commit an episode that schedules
    ``count`` attempts on LLM (with their own priority and fairness key, if given)."""
    assert await store.create_instance(NewInstance(instance_id, "orch", "1", **new))
    item = await claim(store)
    assert item.instance_id == instance_id
    options = {"queue": LLM, "priority": own_priority, "fairness_key": own_key}
    actions = tuple(activity(task, **options) for task in range(count))
    events = [ActivityScheduled(task_id=task, name="act", input="[1]") for task in range(count)]
    await commit(store, item, *events, actions=actions)


async def test_concurrency_bounds_the_attempts_leased_at_once(store: Store) -> None:
    await schedule_activities(store, "i-1", 4)
    limits = [QueueLimits(LLM, concurrency=2)]
    first = await store.claim_queued_activity(spec(), limits)
    second = await store.claim_queued_activity(spec(W2), limits)
    assert first is not None and second is not None
    assert await store.claim_queued_activity(spec(), limits) is None  # two are running
    assert await store.complete_activity(first, "1") == (True, None)
    third = await store.claim_queued_activity(spec(), limits)
    assert third is not None and third.queue == LLM


async def test_an_expired_lease_does_not_count_as_running(store: Store) -> None:
    await schedule_activities(store, "i-1", 2)
    limits = [QueueLimits(LLM, concurrency=1)]
    assert await store.claim_queued_activity(spec(lease=0.2), limits) is not None
    assert await store.claim_queued_activity(spec(W2), limits) is None
    await eventually(lambda: store.claim_queued_activity(spec(W2), limits))


async def test_rate_bounds_the_starts_per_period(store: Store) -> None:
    await schedule_activities(store, "i-1", 5)
    limits = [QueueLimits(LLM, rate_count=2, rate_period=0.5)]
    assert await store.claim_queued_activity(spec(), limits) is not None
    assert await store.claim_queued_activity(spec(), limits) is not None
    assert await store.claim_queued_activity(spec(), limits) is None  # two in the window
    await eventually(lambda: store.claim_queued_activity(spec(), limits))


async def test_lower_priority_runs_first_and_an_attempts_own_wins(store: Store) -> None:
    await schedule_activities(store, "low", 2, own_priority=5)
    await schedule_activities(store, "high", 1, own_priority=1)
    await schedule_activities(store, "inherits", 1, priority=-1)
    await schedule_activities(store, "own-wins", 1, priority=-10, own_priority=3)
    limits = [QueueLimits(LLM)]
    order = []
    while (item := await store.claim_queued_activity(spec(), limits)) is not None:
        order.append(item.instance_id)
    assert order == ["inherits", "high", "own-wins", "low", "low"]


async def test_fairness_takes_keys_in_turn(store: Store) -> None:
    await schedule_activities(store, "a", 6, own_key="tenant-a")
    await schedule_activities(store, "b", 2, own_key="tenant-b")
    await schedule_activities(store, "c", 2, fairness_key="tenant-c")  # the instance's
    limits = [QueueLimits(LLM)]
    order = []
    while (item := await store.claim_queued_activity(spec(), limits)) is not None:
        order.append(item.instance_id)
    assert order[:6] == ["a", "b", "c", "a", "b", "c"]
    assert order[6:] == ["a"] * 4


async def test_an_undeclared_queue_is_left_alone(store: Store) -> None:
    await schedule_activities(store, "i-1", 1)
    assert await store.claim_queued_activity(spec(), [QueueLimits("other")]) is None
    assert await store.claim_queued_activity(spec(activities=("x",)), [QueueLimits(LLM)]) is None


# -- tags and delayed starts ---------------------------------------------------------------------


async def test_tags_are_kept_listed_and_purged(store: Store) -> None:
    for number in range(4):
        tags = {"customer": f"c-{number % 2}", "plan": "pro" if number < 2 else "free"}
        assert await store.create_instance(NewInstance(f"i-{number}", "orch", "1", tags=tags))
    await create(store, "untagged")
    record = await store.get_instance("i-1")
    assert record is not None and record.tags == {"customer": "c-1", "plan": "pro"}
    listed = await store.list_instances(InstanceFilter(tags={"customer": "c-0"}))
    assert [r.instance_id for r in listed] == ["i-2", "i-0"]  # newest first
    both = await store.list_instances(InstanceFilter(tags={"customer": "c-0", "plan": "free"}))
    assert [r.instance_id for r in both] == ["i-2"]
    assert (
        await store.list_instances(InstanceFilter(tags={"customer": "c-0"}, limit=1)) == listed[:1]
    )
    assert (
        await store.list_instances(
            InstanceFilter(tags={"customer": "c-0"}, status=Status.COMPLETED)
        )
        == []
    )
    assert await store.list_instances(InstanceFilter(tags={"customer": "nobody"})) == []
    # purge takes its tags with it
    item = await claim(store)
    while item.instance_id != "i-2":
        await commit(store, item)
        item = await claim(store)
    await commit(store, item, status=Status.COMPLETED, output="1")
    assert await store.purge_instance("i-2") == 1
    assert [
        r.instance_id for r in await store.list_instances(InstanceFilter(tags={"customer": "c-0"}))
    ] == ["i-0"]


async def test_a_delayed_start_is_not_claimable_before_its_time(store: Store) -> None:
    assert await store.create_instance(NewInstance("later", "orch", "1", start_delay=0.4))
    record = await store.get_instance("later")
    assert record is not None and record.status is Status.PENDING
    assert await store.claim_orchestration(spec()) is None
    item = await eventually(lambda: store.claim_orchestration(spec()))
    assert item.instance_id == "later"
    elapsed = item.now - record.created_at
    assert elapsed >= timedelta(seconds=0.4)


async def test_start_at_in_the_past_starts_at_once(store: Store) -> None:
    past = datetime(2000, 1, 1, tzinfo=UTC)
    assert await store.create_instance(NewInstance("now", "orch", "1", start_at=past))
    assert (await claim(store)).instance_id == "now"


# -- schedules ------------------------------------------------------------------------------------


def definition(schedule_id: str = "s@") -> str:
    return ScheduleDefinition(schedule_id, "orch", "[]", every=60.0).to_json()


async def test_a_new_schedule_starts_at_the_stores_clock(store: Store) -> None:
    await store.put_schedule("s@", definition())
    found = await store.get_schedules()
    [state] = found.schedules
    assert (state.schedule_id, state.paused) == ("s@", False)
    assert state.last_slot == math.floor(state.last_slot)
    assert abs(state.last_slot - found.now.timestamp()) < 5
    assert json.loads(state.definition)["every"] == 60.0


async def test_put_again_keeps_the_state(store: Store) -> None:
    await store.put_schedule("s@", definition())
    [state] = (await store.get_schedules()).schedules
    assert await store.advance_schedule("s@", state.last_slot, state.last_slot + 60)
    await store.pause_schedule("s@", True)
    await store.put_schedule("s@", definition())
    [again] = (await store.get_schedules()).schedules
    assert (again.last_slot, again.paused) == (state.last_slot + 60, True)


async def test_advance_is_compare_and_set(store: Store) -> None:
    await store.put_schedule("s@", definition())
    [state] = (await store.get_schedules()).schedules
    won = []

    async def advance() -> None:
        won.append(await store.advance_schedule("s@", state.last_slot, state.last_slot + 60))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(advance)
    assert sorted(won) == [False] * 4 + [True]
    assert not await store.advance_schedule("nope", 0, 1)


async def test_resume_skips_the_slots_passed_while_paused(store: Store) -> None:
    await store.put_schedule("s@", definition())
    [state] = (await store.get_schedules()).schedules
    assert await store.advance_schedule("s@", state.last_slot, 60)  # long ago
    assert await store.pause_schedule("s@", True)
    assert (await store.get_schedules()).schedules[0].paused
    assert await store.pause_schedule("s@", False)
    [resumed] = (await store.get_schedules()).schedules
    assert not resumed.paused and resumed.last_slot >= state.last_slot
    assert not await store.pause_schedule("nope", True)


async def test_created_instances_of_one_slot_id_start_once(store: Store) -> None:
    slot_id = ScheduleDefinition("s@", "orch", "[]", every=60.0).instance_id(120)
    assert slot_id == "s@1970-01-01T00:02:00Z"
    results = []

    async def start() -> None:
        results.append(await store.create_instance(NewInstance(slot_id, "orch", "[]")))

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(start)
    assert sorted(results) == [False, False, False, True]


async def test_an_export_carries_the_tags_into_an_import(store: Store) -> None:
    tags = {"customer": "c-9"}
    assert await store.create_instance(NewInstance("tagged", "orch", "1", tags=tags))
    [dump] = await store.export_instances()
    assert dump.tags == tags
    again = from_json(json.loads(json.dumps(to_json(dataclasses.replace(dump, instance_id="t2")))))
    assert await store.import_instances([again]) == []
    listed = {r.instance_id for r in await store.list_instances(InstanceFilter(tags=tags))}
    assert listed == {"tagged", "t2"}
    record = await store.get_instance("t2")
    assert record is not None and record.tags == tags
