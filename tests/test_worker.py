"""End-to-end: a Client and an in-process Worker on each store backend."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

import durable
from durable import ActivityFailed, OrchestrationContext, RetryPolicy, Status, Task

FAST = RetryPolicy(max_attempts=3, initial_interval=0.01, max_interval=0.05, jitter=0)
WAIT = 20  # seconds: generous, the tests finish far sooner

app = durable.App()
calls: dict[str, int] = {}


@dataclass
class Receipt:
    order_id: str
    cents: int


@app.activity
async def add_one(x: int) -> int:
    return x + 1


@app.activity
def sync_double(x: int) -> int:
    assert threading.current_thread() is not threading.main_thread()
    return x * 2


@app.activity
async def charge(order_id: str, cents: int) -> Receipt:
    return Receipt(order_id, cents)


@app.activity(retry=FAST)
async def flaky(key: str, failures: int) -> str:
    calls[key] = calls.get(key, 0) + 1
    if calls[key] <= failures:
        raise ConnectionError(f"try {calls[key]}")
    return f"ok after {calls[key]}"


@app.activity(retry=RetryPolicy(max_attempts=5, initial_interval=0.01, non_retryable=[KeyError]))
async def picky(key: str) -> None:
    calls[key] = calls.get(key, 0) + 1
    raise KeyError(key)


@app.activity(retry=RetryPolicy(max_attempts=2, initial_interval=0.01), timeout=0.2)
async def slow(key: str) -> None:
    calls[key] = calls.get(key, 0) + 1
    await anyio.sleep(10)


@app.activity(retry=FAST)
async def resumable(key: str) -> Any:
    info = durable.activity_info()
    durable.heartbeat({"step": info.attempt})
    if info.attempt == 1:
        raise RuntimeError("first attempt dies after its heartbeat")
    return [info.attempt, info.heartbeat_details]


@app.activity
async def slow_first_time(key: str, nap: float) -> str:
    calls[key] = calls.get(key, 0) + 1
    if calls[key] == 1:
        await anyio.sleep(nap)
        return "first run"
    return "second run"


@app.activity(queue="gpu")
async def on_gpu(x: int) -> str:
    return f"gpu:{x}"


@app.orchestrator
def pipeline(ctx: OrchestrationContext, x: int) -> Generator[Task[Any], Any, list[int]]:
    a = yield ctx.call_activity(add_one, x)
    b = yield ctx.call_activity(sync_double, a)
    both = yield ctx.when_all([ctx.call_activity(add_one, b), ctx.call_activity(add_one, b + 1)])
    return [a, b, *both]


@app.orchestrator
def gather(ctx: OrchestrationContext, width: int) -> Generator[Task[Any], Any, int]:
    values = yield ctx.when_all([ctx.call_activity(add_one, i) for i in range(width)])
    return sum(values)


@app.orchestrator
def three_in_a_row(ctx: OrchestrationContext, x: int) -> Generator[Task[Any], Any, int]:
    for _ in range(3):
        x = yield ctx.call_activity(add_one, x)
    return x


@app.orchestrator
def checkout(ctx: OrchestrationContext, order: dict[str, Any]) -> Generator[Any, Any, Receipt]:
    receipt: Receipt = yield ctx.call_activity(charge, order["id"], order["cents"])
    return receipt


@app.orchestrator
def call_one(ctx: OrchestrationContext, name: str, *args: Any) -> Generator[Any, Any, Any]:
    return (yield ctx.call_activity(name, *args))


@app.orchestrator
def saga(ctx: OrchestrationContext, key: str) -> Generator[Any, Any, str]:
    try:
        yield ctx.call_activity(picky, key)
    except ActivityFailed as failure:
        undo = yield ctx.call_activity(add_one, 41)
        return f"compensated {failure.error_type} after {failure.attempts}: {undo}"
    return "unreachable"


@app.orchestrator
def sleeper(ctx: OrchestrationContext, seconds: float) -> Generator[Any, Any, float]:
    start = yield ctx.now()
    yield ctx.sleep(seconds)
    end = yield ctx.now()
    return (end - start).total_seconds()


@app.orchestrator
def approval(ctx: OrchestrationContext, timeout: float) -> Generator[Any, Any, Any]:
    ctx.set_custom_status({"stage": "waiting"})
    try:
        answer = yield ctx.wait_for_event("approved", timeout=timeout)
    except durable.TaskTimeout:
        return "timed out"
    ctx.set_custom_status({"stage": "done"})
    return answer


@app.orchestrator
def parent(ctx: OrchestrationContext, x: int) -> Generator[Any, Any, Any]:
    value = yield ctx.call_sub_orchestrator(pipeline, x)
    try:
        yield ctx.call_sub_orchestrator(saga_fails, "boom")
    except durable.OrchestrationFailed as failure:
        return [value, failure.error_type, failure.message]
    return [value]


@app.orchestrator
def saga_fails(ctx: OrchestrationContext, message: str) -> Generator[Any, Any, None]:
    yield ctx.call_activity(add_one, 1)
    raise ValueError(message)


@app.activity(retry=RetryPolicy(max_attempts=1))
async def fails_twice(key: str) -> str:
    calls[key] = calls.get(key, 0) + 1
    if calls[key] <= 2:
        raise ConnectionError(f"down ({calls[key]})")
    return f"up after {calls[key]}"


@app.orchestrator
def child_calls_fails_twice(ctx: OrchestrationContext, key: str) -> Generator[Any, Any, str]:
    return (yield ctx.call_activity(fails_twice, key))


@app.orchestrator
def retries_child(ctx: OrchestrationContext, key: str, attempts: int) -> Generator[Any, Any, Any]:
    policy = RetryPolicy(max_attempts=attempts, initial_interval=0.01, jitter=0)
    try:
        return (yield ctx.call_sub_orchestrator(child_calls_fails_twice, key, retry=policy))
    except durable.OrchestrationFailed as failure:
        return f"gave up: {failure.message}"


@app.orchestrator
def counter(ctx: OrchestrationContext, n: int, total: int) -> Generator[Any, Any, Any]:
    value = yield ctx.call_activity(add_one, total)
    if n <= 1:
        return value
    return ctx.continue_as_new(n - 1, value)


@app.orchestrator
def cancellable(ctx: OrchestrationContext) -> Generator[Any, Any, Any]:
    try:
        yield ctx.wait_for_event("never")
    except durable.Cancelled:
        yield ctx.call_activity(add_one, 0)  # compensation runs more effects
        raise


@app.orchestrator
def failover(ctx: OrchestrationContext, x: int) -> Generator[Any, Any, str]:
    try:
        return (yield ctx.call_activity(on_gpu, x, schedule_to_start_timeout=0.3))
    except durable.TaskTimeout:
        return f"local:{(yield ctx.call_activity(add_one, x))}"


@app.orchestrator
def waits_forever(ctx: OrchestrationContext) -> Generator[Any, Any, Any]:
    child = ctx.call_sub_orchestrator(cancellable, instance_id=f"{ctx.instance_id}-child")
    yield ctx.when_all([child, ctx.wait_for_event("go")])


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    calls.clear()


@pytest.fixture
async def client(store: Any) -> AsyncIterator[durable.Client]:
    async with durable.Client(store, app=app) as client:
        yield client


@pytest.fixture
async def worker(store: Any) -> AsyncIterator[durable.Worker]:
    async with durable.Worker(app, store, lease_seconds=5, poll_interval=0.05) as worker:
        yield worker


async def wait_until(predicate: Any, timeout: float = WAIT) -> None:
    with anyio.fail_after(timeout):
        while not await predicate():
            await anyio.sleep(0.02)


async def test_activities_compose_and_results_decode(client: Any, worker: Any) -> None:
    handle = await client.start(pipeline, 3)
    assert await handle.result(timeout=WAIT) == [4, 8, 9, 10]
    receipt = await (await client.start(checkout, {"id": "o-1", "cents": 500})).result(WAIT)
    assert receipt == Receipt("o-1", 500)
    status = await handle.status()
    assert status.status is Status.COMPLETED and status.input == 3
    kinds = [event.kind for event in await handle.history()]
    assert kinds[0] == "ExecutionStarted" and kinds[-1] == "ExecutionCompleted"
    assert kinds.count("ActivityScheduled") == kinds.count("ActivityCompleted") == 4


async def test_retries_are_durable_and_bounded(client: Any, worker: Any) -> None:
    ok = await client.start(call_one, "flaky", "k1", 2)
    assert await ok.result(WAIT) == "ok after 3"
    failed = await client.start(call_one, "flaky", "k2", 5)
    with pytest.raises(durable.OrchestrationFailed) as info:
        await failed.result(WAIT)
    assert info.value.error_type == "durable.ActivityFailed"
    assert "after 3 attempts" in info.value.message and "ConnectionError" in info.value.message
    assert calls["k2"] == 3


async def test_non_retryable_error_compensates_once(client: Any, worker: Any) -> None:
    result = await (await client.start(saga, "p1")).result(WAIT)
    assert result == "compensated KeyError after 1: 42"
    assert calls["p1"] == 1


async def test_activity_timeout_is_a_failed_attempt(client: Any, worker: Any) -> None:
    with pytest.raises(durable.OrchestrationFailed) as info:
        await (await client.start(call_one, "slow", "s1")).result(WAIT)
    assert "TimeoutError" in info.value.message
    assert calls["s1"] == 2


async def test_heartbeat_details_reach_the_next_attempt(client: Any, worker: Any) -> None:
    assert await (await client.start(call_one, "resumable", "h")).result(WAIT) == [
        2,
        {"step": 1},
    ]


async def test_durable_timer_and_recorded_now(client: Any, worker: Any) -> None:
    elapsed = await (await client.start(sleeper, 0.3)).result(WAIT)
    assert elapsed >= 0.3


async def test_events_buffered_delivered_and_timed_out(client: Any, worker: Any) -> None:
    handle = await client.start(approval, 30)
    await handle.raise_event("approved", {"by": "ann"})  # may arrive before the wait: buffered
    assert await handle.result(WAIT) == {"by": "ann"}
    assert (await handle.status()).custom_status == {"stage": "done"}
    assert await (await client.start(approval, 0.1)).result(WAIT) == "timed out"


async def test_sub_orchestrations_return_and_fail(client: Any, worker: Any) -> None:
    handle = await client.start(parent, 1, instance_id="parent-1")
    assert await handle.result(WAIT) == [[2, 4, 5, 6], "ValueError", "boom"]
    child = await client.get("parent-1:0").status()
    assert child.status is Status.COMPLETED and child.output == [2, 4, 5, 6]


async def test_sub_orchestration_retry_restarts_the_child(client: Any, worker: Any) -> None:
    assert await (await client.start(retries_child, "c1", 3)).result(WAIT) == "up after 3"
    gave_up = await (await client.start(retries_child, "c2", 2)).result(WAIT)
    assert gave_up.startswith("gave up:") and "down (2)" in gave_up
    assert calls["c2"] == 2


async def test_continue_as_new_follows_to_the_last_run(client: Any, worker: Any) -> None:
    handle = await client.start(counter, 4, 0, instance_id="loop")
    assert await handle.result(WAIT) == 4
    status = await handle.status()
    assert status.input == [1, 3]  # the last run's arguments
    assert next(e.kind for e in await handle.history()) == "ExecutionStarted"


async def test_terminate_stops_the_instance_and_its_children(client: Any, worker: Any) -> None:
    handle = await client.start(waits_forever, instance_id="t1")
    child = client.get("t1-child")

    async def child_running() -> bool:
        try:
            return (await child.status()).status is Status.RUNNING
        except durable.InstanceNotFound:
            return False

    await wait_until(child_running)
    await handle.terminate("operator said so")
    with pytest.raises(durable.Terminated, match="operator said so"):
        await handle.result(WAIT)
    with pytest.raises(durable.Terminated):
        await child.result(WAIT)


async def test_suspend_keeps_events_until_resume(client: Any, worker: Any) -> None:
    handle = await client.start(approval, 60)
    await wait_until(lambda: _has_status(handle, Status.RUNNING))
    await handle.suspend("maintenance")
    await wait_until(lambda: _has_status(handle, Status.SUSPENDED))
    await handle.raise_event("approved", "yes")
    with pytest.raises(durable.TaskTimeout):
        await handle.result(timeout=0.5)
    assert (await handle.status()).status is Status.SUSPENDED
    await handle.resume()
    assert await handle.result(WAIT) == "yes"


async def test_cancel_runs_compensation_then_ends_canceled(client: Any, worker: Any) -> None:
    handle = await client.start(cancellable)
    await wait_until(lambda: _has_status(handle, Status.RUNNING))
    await handle.cancel("user left")
    with pytest.raises(durable.OrchestrationFailed) as info:
        await handle.result(WAIT)
    assert info.value.error_type == "durable.Cancelled"
    assert (await handle.status()).status is Status.CANCELED
    kinds = [event.kind for event in await handle.history()]
    assert "ActivityCompleted" in kinds and kinds[-1] == "ExecutionCanceled"


async def test_schedule_to_start_timeout_allows_failover(client: Any, worker: Any) -> None:
    assert await (await client.start(failover, 7)).result(WAIT) == "local:8"


async def test_queues_route_activities(store: Any, client: Any, worker: Any) -> None:
    async with durable.Worker(app, store, queues=["gpu"], poll_interval=0.05):
        assert await (await client.start(failover, 1)).result(WAIT) == "gpu:1"


async def test_a_worker_without_the_activity_leaves_it(store: Any, client: Any) -> None:
    only_add_one = durable.App()  # an activity worker deployed with part of the code
    only_add_one.activity(add_one.fn)
    async with (
        durable.Worker(app, store, queues=["elsewhere"], poll_interval=0.05),
        durable.Worker(only_add_one, store, poll_interval=0.05),
    ):
        handle = await client.start(pipeline, 1)
        with pytest.raises(durable.TaskTimeout):
            await handle.result(timeout=0.5)  # sync_double waits for a worker that has it
        kinds = [event.kind for event in await handle.history()]
        assert kinds.count("ActivityCompleted") == 1 and "ActivityFailed" not in kinds
        async with durable.Worker(app, store, poll_interval=0.05):
            assert await handle.result(WAIT) == [2, 4, 5, 6]


async def test_stop_lets_in_flight_work_finish(store: Any, client: Any) -> None:
    async with durable.Worker(app, store, shutdown_grace=10, poll_interval=0.05):
        handle = await client.start(call_one, "slow_first_time", "f1", 0.3)
        await wait_until(lambda: _called("f1"))
    kinds = [event.kind for event in await handle.history()]
    assert "ActivityCompleted" in kinds  # finished and recorded before the worker stopped
    async with durable.Worker(app, store, poll_interval=0.05):
        assert await handle.result(WAIT) == "first run"


async def test_stop_releases_work_past_the_grace_period(store: Any, client: Any) -> None:
    async with durable.Worker(app, store, shutdown_grace=0.1, lease_seconds=60, poll_interval=0.05):
        handle = await client.start(call_one, "slow_first_time", "r1", 60)
        await wait_until(lambda: _called("r1"))
    with anyio.fail_after(5):  # far less than the 60 s lease: the attempt was given back
        async with durable.Worker(app, store, poll_interval=0.05):
            assert await handle.result() == "second run"


async def test_start_rejects_duplicates_and_unknown_names(client: Any, worker: Any) -> None:
    first = await client.start(pipeline, 1, instance_id="dup")
    with pytest.raises(durable.InstanceAlreadyExists, match="dup"):
        await client.start(pipeline, 1, instance_id="dup")
    again = await client.start(pipeline, 1, instance_id="dup", if_exists="return")
    assert again.instance_id == first.instance_id
    with pytest.raises(durable.ConfigurationError, match="pipeline"):
        await client.start("no_such_flow", 1)
    with pytest.raises(durable.SerializationError, match="x"):
        await client.start(pipeline, object())
    assert [s.instance_id for s in await client.list()] == ["dup"]


async def test_events_to_unknown_or_finished_instances_are_errors(client: Any, worker: Any) -> None:
    with pytest.raises(durable.InstanceNotFound):
        await client.get("nobody").raise_event("x")
    handle = await client.start(pipeline, 1)
    await handle.result(WAIT)
    with pytest.raises(durable.DurableError, match="COMPLETED"):
        await handle.raise_event("late")
    await handle.purge()
    with pytest.raises(durable.InstanceNotFound):
        await handle.status()


async def test_unknown_orchestrator_stays_pending_without_spinning(store: Any, worker: Any) -> None:
    async with durable.Client(store) as bare:  # no App: names are not checked at start
        handle = await bare.start("written_elsewhere", 1)
        with pytest.raises(durable.TaskTimeout):
            await handle.result(timeout=0.5)
        assert (await handle.status()).status is Status.PENDING


async def test_non_determinism_holds_the_instance_until_the_code_is_fixed(store: Any) -> None:
    changed = durable.App()
    changed_add_one = changed.activity(add_one.fn)

    @changed.orchestrator(name="approval")
    def approval_v2(ctx: OrchestrationContext, timeout: float) -> Generator[Any, Any, Any]:
        yield ctx.call_activity(changed_add_one, 1)  # the history holds a timer here
        return "v2"

    async with durable.Client(store, app=app) as client:
        async with durable.Worker(app, store, poll_interval=0.05):
            handle = await client.start(approval, 60)
            await wait_until(lambda: _has_status(handle, Status.RUNNING))
        async with durable.Worker(changed, store, poll_interval=0.05, cache_size=0):
            await handle.raise_event("approved", "late")

            async def reported() -> bool:
                return (await handle.status()).error is not None

            await wait_until(reported)
            status = await handle.status()
            assert status.status is Status.RUNNING
            assert "NonDeterminismError" in str(status.error)
            assert "TimerCreated" in str(status.error) and "add_one" in str(status.error)
        async with durable.Worker(app, store, poll_interval=0.05):
            assert await handle.result(WAIT) == "late"
        assert (await handle.status()).error is None


async def test_a_commit_that_fails_holds_its_instance_and_the_worker_serves_others(
    store: Any, monkeypatch: Any
) -> None:
    # an error of one instance's commit (not the store's: a value it refuses) holds that
    # instance with the error in its status; the worker goes on with every other instance
    real_commit = store.commit_episode

    async def refusing(commit: Any, **kwargs: Any) -> Any:
        if commit.instance_id == "poison" and commit.events[0].kind == "EventRaised":
            raise ValueError("refused by the store")
        return await real_commit(commit, **kwargs)

    monkeypatch.setattr(store, "commit_episode", refusing)
    async with (
        durable.Client(store, app=app) as client,
        durable.Worker(app, store, poll_interval=0.05),
    ):
        poison = await client.start(approval, 60, instance_id="poison")
        await wait_until(lambda: _has_status(poison, Status.RUNNING))
        await poison.raise_event("approved", "yes")  # its next episode is claimed, then refused

        async def reported() -> bool:
            return "refused by the store" in str((await poison.status()).error)

        await wait_until(reported)
        healthy = await client.start(three_in_a_row, 1)
        assert await healthy.result(WAIT) == 4
        assert (await poison.status()).status is Status.RUNNING


async def test_result_of_an_instance_that_finished_before_it_was_asked_is_prompt(
    store: Any,
) -> None:
    # result() of a handle from start() waits before it reads (a new instance has no result):
    # a finish that came before that wait must still end it at once, not after a re-read
    async with (
        durable.Client(store, app=app) as client,
        durable.Worker(app, store, poll_interval=0.05),
    ):
        handle = await client.start(three_in_a_row, 1)
        with anyio.fail_after(WAIT):
            while (await client.get(handle.instance_id).status()).status is not Status.COMPLETED:
                await anyio.sleep(0.01)
        began = anyio.current_time()
        assert await handle.result(WAIT) == 4
        assert anyio.current_time() - began < 0.5  # the re-read comes after 1 s


async def test_cache_off_gives_the_same_results(store: Any) -> None:
    async with (
        durable.Client(store, app=app) as client,
        durable.Worker(app, store, cache_size=0, poll_interval=0.05),
    ):
        assert await (await client.start(pipeline, 3)).result(WAIT) == [4, 8, 9, 10]
        assert await (await client.start(counter, 3, 10)).result(WAIT) == 13


async def test_each_step_is_one_transaction(store: Any, monkeypatch: Any) -> None:
    # Decide, then commit: a start made in the worker's own process commits with its first
    # episode (start_instance), and each completion with the next episode, decided from the
    # cached generator before the call (complete_activity's then=): nothing is claimed, and no
    # episode commits on its own (on PostgreSQL too: one statement each, see postgres.step_commit)
    started: list[str] = []
    completed_with_episode: list[bool] = []
    claimed: list[str] = []
    commits: list[str] = []
    real_start, real_complete = store.start_instance, store.complete_activity
    real_claim, real_commit = store.claim_orchestrations, store.commit_episode

    async def starting(new: Any, first: Any, **kwargs: Any) -> Any:
        started.append(new.instance_id)
        return await real_start(new, first, **kwargs)

    async def completing(item: Any, result: Any, **kwargs: Any) -> Any:
        answer = await real_complete(item, result, **kwargs)
        completed_with_episode.append(answer[1] is not None)
        return answer

    async def claiming(spec: Any, limit: int) -> Any:
        items = await real_claim(spec, limit)
        claimed.extend(item.instance_id for item in items)
        return items

    async def counting(commit: Any, **kwargs: Any) -> Any:
        commits.append(commit.instance_id)
        return await real_commit(commit, **kwargs)

    monkeypatch.setattr(store, "start_instance", starting)
    monkeypatch.setattr(store, "complete_activity", completing)
    monkeypatch.setattr(store, "claim_orchestrations", claiming)
    monkeypatch.setattr(store, "commit_episode", counting)
    async with (
        durable.Client(store, app=app) as client,
        durable.Worker(app, store, poll_interval=0.05),
    ):
        handle = await client.start(three_in_a_row, 3, instance_id="steps")
        assert await handle.result(WAIT) == 6
    assert started == ["steps"] and claimed == []
    assert completed_with_episode == [True, True, True]
    assert commits == []
    kinds = [event.kind for event in await store.get_history("steps")]
    assert kinds.count("ActivityCompleted") == 3 and kinds[-1] == "ExecutionCompleted"


async def test_a_fan_in_replays_nothing_and_records_results_together(
    store: Any, monkeypatch: Any
) -> None:
    # the results of one instance are recorded by one task at a time, those that arrive
    # meanwhile together with one episode: every episode comes from the cached generator
    calls: list[int] = []
    real_complete = store.complete_activity

    async def completing(item: Any, result: Any, **kwargs: Any) -> Any:
        calls.append(1 + len(kwargs.get("more", ())))
        return await real_complete(item, result, **kwargs)

    monkeypatch.setattr(store, "complete_activity", completing)
    async with (
        durable.Client(store, app=app) as client,
        durable.Worker(app, store, poll_interval=0.05) as worker,
    ):
        handle = await client.start(gather, 40)
        assert await handle.result(WAIT) == sum(range(1, 41))
        assert worker.replays == 0
    assert sum(calls) == 40
    kinds = [event.kind for event in await store.get_history(handle.instance_id)]
    assert kinds.count("ActivityCompleted") == 40


async def test_logs_carry_instance_id(
    client: Any, worker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="durable")
    handle = await client.start(call_one, "flaky", "log1", 1, instance_id="logged")
    await handle.result(WAIT)
    retried = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert retried and all(getattr(r, "instance_id", None) == "logged" for r in retried)
    assert all(getattr(r, "activity", None) == "flaky" for r in retried)
    # one line when it starts and one when it ends, each naming it
    ours = [r.getMessage() for r in caplog.records if getattr(r, "instance_id", None) == "logged"]
    assert sum(m == "instance logged (call_one) started" for m in ours) == 1
    assert sum(m == "instance logged completed" for m in ours) == 1


async def _has_status(handle: durable.InstanceHandle, status: Status) -> bool:
    return (await handle.status()).status is status


async def _called(key: str) -> bool:
    return calls.get(key, 0) > 0
