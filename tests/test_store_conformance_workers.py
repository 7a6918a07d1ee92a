"""Conformance of every backend to ``WorkerRegistry`` (``durable.stores.workers``): workers
announce, renew and withdraw themselves; instances keep their start's trace context."""

from __future__ import annotations

import anyio

from durable import Status
from durable._events import ErrorInfo, ExecutionCompleted
from durable.stores.base import Store
from durable.stores.workers import WorkerInfo

from .test_store_conformance import activity, claim, commit, create, scheduled, spec

ALPHA = WorkerInfo("alpha", "host-a", 11, ("default",), ("checkout",), ("charge", "pack"))
BETA = WorkerInfo("beta", "host-b", 22, ("default", "gpu"), (), ("render",))


async def test_announced_workers_are_listed_oldest_first_with_the_stores_times(
    store: Store,
) -> None:
    assert await store.list_workers() == []
    await store.announce_worker(ALPHA)
    await anyio.sleep(0.01)
    await store.announce_worker(BETA)
    alpha, beta = await store.list_workers()
    assert (alpha.worker_id, alpha.host, alpha.pid) == ("alpha", "host-a", 11)
    assert alpha.queues == ("default",) and alpha.orchestrators == ("checkout",)
    assert alpha.activities == ("charge", "pack")
    assert beta.queues == ("default", "gpu") and beta.orchestrators == ()
    assert alpha.started_at is not None and alpha.last_seen_at is not None
    assert alpha.started_at <= beta.started_at  # type: ignore[operator]
    assert alpha.to_json()["activities"] == ["charge", "pack"]


async def test_a_renewal_keeps_the_start_and_moves_last_seen(store: Store) -> None:
    await store.announce_worker(ALPHA)
    (first,) = await store.list_workers()
    await anyio.sleep(0.01)
    await store.announce_worker(WorkerInfo("alpha", "host-a", 11, ("q2",), (), ()))
    (renewed,) = await store.list_workers()
    assert renewed.started_at == first.started_at
    assert renewed.last_seen_at > first.last_seen_at  # type: ignore[operator]
    assert renewed.queues == ("q2",) and renewed.activities == ()


async def test_workers_not_seen_lately_and_withdrawn_ones_are_not_listed(store: Store) -> None:
    await store.announce_worker(ALPHA)
    await store.announce_worker(BETA)
    await anyio.sleep(0.05)
    assert await store.list_workers(seen_within=0.01) == []
    assert len(await store.list_workers(seen_within=60)) == 2
    await store.withdraw_worker("alpha")
    await store.withdraw_worker("alpha")  # idempotent
    assert [worker.worker_id for worker in await store.list_workers()] == ["beta"]


async def test_the_first_trace_context_is_kept_and_purged_with_its_instance(store: Store) -> None:
    assert await store.get_trace_context("i-1") is None
    await store.save_trace_context("i-1", '{"traceparent": "00-aa-bb-01"}')
    await create(store)
    await store.save_trace_context("i-1", '{"traceparent": "00-cc-dd-01"}')  # ignored
    assert await store.get_trace_context("i-1") == '{"traceparent": "00-aa-bb-01"}'
    await commit(store, await claim(store), ExecutionCompleted(output="1"), status=Status.COMPLETED)
    assert await store.purge_instance("i-1") == 1
    assert await store.get_trace_context("i-1") is None


async def test_queue_depths_count_what_could_be_claimed_now(store: Store) -> None:
    await create(store)
    actions = (
        activity(0),
        activity(1),
        activity(2, queue="gpu"),
        activity(3, queue="gpu"),
    )
    await commit(store, await claim(store), *(scheduled(n) for n in range(4)), actions=actions)
    depths = await store.queue_depths(["default", "gpu", "idle"])
    assert depths == {"default": 2, "gpu": 2, "idle": 0}
    taken = await store.claim_activity(spec(queues=("gpu",)))
    assert taken is not None  # leased: no longer waiting
    assert await store.queue_depths(["gpu"]) == {"gpu": 1}
    assert await store.fail_activity(taken, ErrorInfo("E", "x"), retry_in=3600)  # due later
    assert await store.queue_depths(["gpu", "default"]) == {"gpu": 1, "default": 2}
