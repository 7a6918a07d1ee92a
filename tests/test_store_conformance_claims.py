"""Store conformance for claiming several instances at once (``Store.claim_orchestrations``),
on every backend through the ``store`` fixture: the rules of ``claim_orchestration``, applied to
each instance of a batch, and never one instance twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio

from durable._actions import StartTimer
from durable._events import EventRaised, ExecutionSuspended, TimerCreated, TimerFired
from durable._status import Status
from durable.stores.base import OrchestrationWorkItem, Store
from tests.test_store_conformance import (
    W1,
    W2,
    claim,
    commit,
    create,
    eventually,
    kinds,
    running,
    spec,
)


def ids(items: list[OrchestrationWorkItem]) -> list[str]:
    return [item.instance_id for item in items]


async def test_a_batch_leases_up_to_its_limit_oldest_first(store: Store) -> None:
    for n in range(5):
        await create(store, f"i-{n}")
    first = await store.claim_orchestrations(spec(), 3)
    assert ids(first) == ["i-0", "i-1", "i-2"]
    assert all(kinds(item) == ["ExecutionStarted"] and item.claims == 1 for item in first)
    rest = await store.claim_orchestrations(spec(W2), 10)  # the leased ones are not offered
    assert ids(rest) == ["i-3", "i-4"]
    assert await store.claim_orchestrations(spec(), 10) == []
    assert await store.claim_orchestration(spec()) is None
    for item in first:  # each is an ordinary claim: its commit lands
        await commit(store, item)
    record = await store.get_instance("i-0")
    assert record is not None and record.status is Status.RUNNING


async def test_an_instance_with_several_messages_is_claimed_once_with_all(store: Store) -> None:
    await running(store, "i-1")
    await running(store, "i-2")
    for name in ("a", "b", "c"):
        await store.send_message("i-1", EventRaised(name=name, payload="null"))
    await store.send_message("i-2", EventRaised(name="d", payload="null"))
    items = await store.claim_orchestrations(spec(), 10)
    assert sorted(ids(items)) == ["i-1", "i-2"]
    by_id = {item.instance_id: item for item in items}
    raised = [m.event for m in by_id["i-1"].messages if isinstance(m.event, EventRaised)]
    assert [event.name for event in raised] == ["a", "b", "c"]
    assert kinds(by_id["i-2"]) == ["EventRaised"]


async def test_a_batch_keeps_the_claim_rules(store: Store) -> None:
    await create(store, "other", name="elsewhere")  # a name this worker does not run
    await running(store, "held")
    await store.send_message("held", ExecutionSuspended(reason="hold"))
    await commit(store, await claim(store), status=Status.SUSPENDED)
    await store.send_message("held", EventRaised(name="kept", payload="1"))  # waits: suspended
    await running(store, "done")
    await store.send_message("done", EventRaised(name="late", payload="1"))
    await commit(store, await claim(store), status=Status.COMPLETED, output="1")
    await create(store, "ready")
    assert ids(await store.claim_orchestrations(spec(), 10)) == ["ready"]
    assert ids(await store.claim_orchestrations(spec(orchestrators=("elsewhere",)), 10)) == [
        "other"
    ]


async def test_timers_due_together_are_claimed_together_never_early(store: Store) -> None:
    fire_at = datetime.now(UTC) + timedelta(seconds=0.3)
    for n in range(4):
        await create(store, f"t-{n}")
        timer = TimerCreated(task_id=0, fire_at=fire_at)
        await commit(store, await claim(store), timer, actions=(StartTimer(0, fire_at),))
    assert await store.claim_orchestrations(spec(), 10) == []
    items = await eventually(lambda: store.claim_orchestrations(spec(), 10))
    assert datetime.now(UTC) >= fire_at
    # a claim made as the timers fell due may have seen only some of them: the rest follow
    while len(items) < 4:
        items += await eventually(lambda: store.claim_orchestrations(spec(), 10))
    assert sorted(ids(items)) == ["t-0", "t-1", "t-2", "t-3"]
    for item in items:
        (message,) = item.messages
        assert isinstance(message.event, TimerFired) and message.event.task_id == 0


async def test_concurrent_batches_never_share_an_instance(store: Store) -> None:
    for n in range(12):
        await create(store, f"i-{n:02}")
    found: dict[str, list[str]] = {}

    async def take(worker: str) -> None:
        found[worker] = ids(await store.claim_orchestrations(spec(worker), 8))

    async with anyio.create_task_group() as group:
        group.start_soon(take, W1)
        group.start_soon(take, W2)
    assert not set(found[W1]) & set(found[W2])
    rest = ids(await store.claim_orchestrations(spec(), 12))
    assert sorted(found[W1] + found[W2] + rest) == [f"i-{n:02}" for n in range(12)]
