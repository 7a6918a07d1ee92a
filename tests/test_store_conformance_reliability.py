"""Store conformance for reliability (issue 17), on every backend through the ``store`` fixture.

A claim counts (``OrchestrationWorkItem.claims``) and the count outlives the claimer: only a
commit or a release resets it, so the worker can end an instance whose episodes keep crashing
it (DESIGN 4a). The poison end the worker commits is an ordinary FAILED episode.
"""

from __future__ import annotations

from durable._events import ExecutionStarted
from durable._status import Status
from durable._worker.poison import ERROR_TYPE, exhausted, poisoned_end
from durable.stores.base import Store
from tests.test_store_conformance import (
    W1,
    W2,
    claim,
    commit,
    create,
    eventually,
    history_kinds,
    poke,
    running,
    spec,
)


async def test_a_claim_counts_until_a_commit(store: Store) -> None:
    await create(store)
    first = await claim(store, spec(W1, lease=0.1))
    assert first.claims == 1
    # the claimer died: the lease runs out, the next claim sees both
    second = await eventually(lambda: store.claim_orchestration(spec(W2, lease=0.1)))
    assert second.claims == 2
    third = await eventually(lambda: store.claim_orchestration(spec(W1)))
    assert third.claims == 3
    await commit(store, third)
    assert (await poke(store)).claims == 1


async def test_a_release_takes_its_claim_back(store: Store) -> None:
    await running(store)
    item = await poke(store, claimer=spec(W1, lease=0.1))
    again = await eventually(lambda: store.claim_orchestration(spec(W1)))
    assert (item.claims, again.claims) == (1, 2)
    await store.release_orchestration("i-1", W1)
    assert (await claim(store)).claims == 2  # the first claim never came back
    await store.release_orchestration("i-1", W1)
    await store.release_orchestration("i-1", W1)  # not W1's any more: nothing happens
    assert (await claim(store)).claims == 2


async def test_the_poison_end_fails_a_fresh_instance_with_a_whole_history(store: Store) -> None:
    await create(store)
    item = None
    for _ in range(3):  # three claimers died on the first episode
        item = await eventually(lambda: store.claim_orchestration(spec(W1, lease=0.05)))
    assert item is not None and exhausted(item, 2)
    await store.commit_episode(poisoned_end(item, W1, 2))
    record = await store.get_instance("i-1")
    assert record is not None and record.status is Status.FAILED
    assert record.error is not None and record.error.error_type == ERROR_TYPE
    assert "2 times in a row" in record.error.message
    assert await history_kinds(store) == ["ExecutionStarted", "ExecutionFailed"]
    assert [e.seq for e in await store.get_history("i-1")] == [0, 1]
    assert await store.claim_orchestration(spec()) is None


async def test_the_poison_end_of_a_running_instance_keeps_its_history(store: Store) -> None:
    await running(store)
    item = await poke(store)
    await store.commit_episode(poisoned_end(item, W1, 5))
    assert await history_kinds(store) == ["ExecutionStarted", "ExecutionFailed"]
    events = await store.get_history("i-1")
    assert isinstance(events[0], ExecutionStarted)
    assert await store.claim_orchestration(spec()) is None
