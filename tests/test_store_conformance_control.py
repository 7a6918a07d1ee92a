"""Store conformance for rewind and external completion (``stores.control``), on every backend:
``rewind_instances`` takes FAILED instances back in one transaction, ``hand_off_activity`` passes
an attempt's lease on only while that attempt holds it, and the new owner alone records the
outcome."""

from __future__ import annotations

import dataclasses

from durable._events import ActivityCompleted, ErrorInfo, ExecutionFailed, ExecutionRewound
from durable._status import Status
from durable.stores.base import ActivityWorkItem, Store
from durable.stores.control import Rewind

from .test_store_conformance import (
    W2,
    activity,
    claim,
    commit,
    create,
    eventually,
    kinds,
    scheduled,
    spec,
)

BOOM = ErrorInfo("ValueError", "boom")


async def _failed(store: Store, instance_id: str = "i-1") -> None:
    await create(store, instance_id)
    item = await claim(store)
    await commit(store, item, ExecutionFailed(error=BOOM), status=Status.FAILED, error=BOOM)


async def test_rewind_takes_a_failed_instance_back_with_its_message(store: Store) -> None:
    await _failed(store)
    await _failed(store, "child")
    await create(store, "other")  # PENDING: listed, but not FAILED, so left as it is
    asked = (
        Rewind("i-1", (ExecutionRewound(reason="again"),)),
        Rewind("child", (ExecutionRewound(),)),
        Rewind("other", (ExecutionRewound(),)),
    )
    assert await store.rewind_instances(asked) is True
    for instance_id in ("i-1", "child"):
        record = await store.get_instance(instance_id)
        assert record is not None
        assert (record.status, record.error, record.version) == (Status.RUNNING, None, 2)
    other = await store.get_instance("other")
    assert other is not None and other.status is Status.PENDING
    claimed = {}
    for _ in range(3):
        item = await claim(store)
        claimed[item.instance_id] = kinds(item)
    assert claimed == {
        "i-1": ["ExecutionRewound"],
        "child": ["ExecutionRewound"],
        "other": ["ExecutionStarted"],
    }


async def test_rewind_of_an_instance_that_is_not_failed_writes_nothing(store: Store) -> None:
    await _failed(store, "child")
    await create(store)
    asked = (Rewind("i-1", (ExecutionRewound(),)), Rewind("child", (ExecutionRewound(),)))
    assert await store.rewind_instances(asked) is False
    assert await store.rewind_instances((Rewind("nobody", (ExecutionRewound(),)),)) is False
    child = await store.get_instance("child")
    assert child is not None and child.status is Status.FAILED


async def _attempt(store: Store) -> ActivityWorkItem:
    await create(store)
    await commit(store, await claim(store), scheduled(0), actions=(activity(0),))
    item = await store.claim_activity(spec())
    assert item is not None
    return item


async def test_a_handed_off_attempt_takes_its_outcome_from_the_new_owner_only(
    store: Store,
) -> None:
    item = await _attempt(store)
    assert await store.find_activity(item.id) == item
    assert await store.find_activity(10**9) is None
    assert await store.hand_off_activity(item, "external:n1", 60.0) is True
    found = await store.find_activity(item.id)
    assert found is not None and found.worker_id == "external:n1" and found.attempt == 1
    # the worker that handed it off no longer holds it: not its outcome, nor a second hand-off
    assert await store.complete_activity(item, '"late"') == (False, None)
    assert await store.hand_off_activity(item, "external:n2", 60.0) is False
    assert await store.claim_activity(spec(W2)) is None  # leased until its deadline
    forged = dataclasses.replace(found, worker_id="external:guess")
    assert await store.complete_activity(forged, '"forged"') == (False, None)
    owner = dataclasses.replace(found, worker_id="external:n1")
    assert await store.complete_activity(owner, '"done"') == (True, None)
    assert await store.complete_activity(owner, '"twice"') == (False, None)
    assert await store.find_activity(found.id) is None
    results = [m.event for m in (await claim(store)).messages]
    assert [e.result for e in results if isinstance(e, ActivityCompleted)] == ['"done"']


async def test_a_hand_off_past_its_deadline_is_claimed_for_the_next_attempt(
    store: Store,
) -> None:
    item = await _attempt(store)
    assert await store.hand_off_activity(item, "external:n1", 0.0) is True
    again = await eventually(lambda: store.claim_activity(spec(W2)))
    assert (again.id, again.attempt, again.worker_id) == (item.id, 2, W2)
    stale = dataclasses.replace(again, worker_id="external:n1", attempt=1)
    assert await store.fail_activity(stale, BOOM, retry_in=None) is False
