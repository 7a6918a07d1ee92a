"""The store conformance suite: every guarantee of ``durable.stores.base.Store``, on every backend.

Only the Protocol is used (through the ``store`` fixture); backend specifics live in their own
test modules. Episodes are driven by hand: claim, then commit what a worker would commit.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import anyio
import pytest
import tenacity

from durable._actions import (
    Action,
    ActivityOptions,
    CancelTimer,
    Complete,
    ContinueAsNew,
    Fail,
    MarkCanceled,
    ScheduleActivity,
    SendEvent,
    StartChild,
    StartTimer,
)
from durable._errors import DurableError, InstanceNotFound
from durable._events import (
    ActivityCompleted,
    ActivityFailed,
    ActivityScheduled,
    ErrorInfo,
    EventRaised,
    ExecutionCompleted,
    ExecutionContinuedAsNew,
    ExecutionFailed,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    HistoryEvent,
    SubOrchestrationCompleted,
    SubOrchestrationFailed,
    SubOrchestrationScheduled,
    TimerCreated,
    TimerFired,
)
from durable._retry import RetryPolicy
from durable._status import Status
from durable.stores.base import (
    ActivityWorkItem,
    ClaimSpec,
    EpisodeCommit,
    InstanceFilter,
    LeaseLost,
    NewInstance,
    OrchestrationWorkItem,
    Store,
)

T = TypeVar("T")
W1, W2 = "worker-1", "worker-2"
PROMPT = 1.0  # seconds: "promptly" (a wake-up, not a poll timeout, which the tests set to 10 s)


def spec(
    worker: str = W1,
    lease: float = 30.0,
    *,
    orchestrators: tuple[str, ...] = ("orch", "child"),
    activities: tuple[str, ...] = ("act", "other"),
    queues: tuple[str, ...] = ("default",),
) -> ClaimSpec:
    return ClaimSpec(
        worker, lease, frozenset(orchestrators), frozenset(activities), frozenset(queues)
    )


async def create(
    store: Store, instance_id: str = "i-1", name: str = "orch", data: str = "1"
) -> None:
    assert await store.create_instance(NewInstance(instance_id, name, data))


async def claim(store: Store, claimer: ClaimSpec | None = None) -> OrchestrationWorkItem:
    item = await store.claim_orchestration(claimer or spec())
    assert item is not None, "nothing claimable"
    return item


async def commit(
    store: Store,
    item: OrchestrationWorkItem,
    *new_events: HistoryEvent,
    actions: tuple[Action, ...] = (),
    status: Status = Status.RUNNING,
    worker: str = W1,
    consumed: list[int] | None = None,
    version: int | None = None,
    eager: ClaimSpec | None = None,
    eager_limit: int = 0,
    **fields: Any,
) -> list[ActivityWorkItem]:
    """Commit what a worker would: the messages' events and ``new_events``, numbered on."""
    events = [m.event for m in item.messages] + list(new_events)
    base = item.version if version is None else version
    numbered = [dataclasses.replace(e, seq=base + i) for i, e in enumerate(events)]
    episode = EpisodeCommit(
        instance_id=item.instance_id,
        worker_id=worker,
        execution_id=item.execution_id,
        expected_version=base,
        events=numbered,
        actions=actions,
        consumed=[m.id for m in item.messages] if consumed is None else consumed,
        status=status,
        **fields,
    )
    return await store.commit_episode(episode, eager=eager, eager_limit=eager_limit)


async def running(store: Store, instance_id: str = "i-1", name: str = "orch") -> None:
    """Create the instance and commit its first episode (RUNNING, nothing scheduled)."""
    await create(store, instance_id, name)
    item = await claim(store)
    assert item.instance_id == instance_id
    await commit(store, item)


async def poke(
    store: Store, instance_id: str = "i-1", claimer: ClaimSpec | None = None
) -> OrchestrationWorkItem:
    """Raise an event so that the instance has an episode to run, and claim it."""
    await store.send_message(instance_id, EventRaised(name="poke", payload="null"))
    return await claim(store, claimer)


def activity(task_id: int = 0, name: str = "act", data: str = "[1]", **options: Any) -> Any:
    return ScheduleActivity(task_id, name, data, ActivityOptions(**options))


def scheduled(task_id: int = 0, name: str = "act", data: str = "[1]") -> ActivityScheduled:
    return ActivityScheduled(task_id=task_id, name=name, input=data)


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 5.0) -> T:
    """Poll ``probe`` until it returns something (a condition, never a fixed sleep)."""
    with anyio.fail_after(timeout):
        while True:
            result = await probe()
            if result:
                return result
            await anyio.sleep(0.02)


def kinds(item: OrchestrationWorkItem) -> list[str]:
    return [m.event.kind for m in item.messages]


async def history_kinds(store: Store, instance_id: str = "i-1") -> list[str]:
    return [e.kind for e in await store.get_history(instance_id)]


# -- instances ------------------------------------------------------------------------------------


async def test_create_then_get(store: Store) -> None:
    before = datetime.now(UTC)
    assert await store.create_instance(NewInstance("i-1", "orch", '{"a": 1}'))
    record = await store.get_instance("i-1")
    assert record is not None
    assert (record.instance_id, record.name, record.input) == ("i-1", "orch", '{"a": 1}')
    assert record.status is Status.PENDING
    assert (record.execution_id, record.version) == (1, 0)
    assert (record.output, record.error, record.custom_status) == (None, None, None)
    assert record.created_at.tzinfo is not None
    assert before - timedelta(seconds=2) <= record.created_at <= datetime.now(UTC)
    assert await store.get_instance("nope") is None


async def test_duplicate_create_returns_false_and_writes_nothing(store: Store) -> None:
    await create(store, "dup", data="1")
    assert not await store.create_instance(NewInstance("dup", "child", "2"))
    record = await store.get_instance("dup")
    assert record is not None and (record.name, record.input) == ("orch", "1")
    item = await claim(store)
    assert kinds(item) == ["ExecutionStarted"]
    assert await store.claim_orchestration(spec(W2)) is None


async def test_concurrent_creates_of_one_id_exactly_one_wins(store: Store) -> None:
    results: list[bool] = []

    async def attempt(n: int) -> None:
        results.append(await store.create_instance(NewInstance("dup", "orch", str(n))))

    async with anyio.create_task_group() as tg:
        for n in range(50):
            tg.start_soon(attempt, n)
    assert sorted(results) == [False] * 49 + [True]
    assert kinds(await claim(store)) == ["ExecutionStarted"]


async def test_list_filters_newest_first_and_limit(store: Store) -> None:
    for n in range(4):
        await create(store, f"i-{n}", name="orch" if n % 2 == 0 else "child")
    await commit(store, await claim(store))  # i-0 RUNNING
    everything = await store.list_instances(InstanceFilter())
    assert [r.instance_id for r in everything] == ["i-3", "i-2", "i-1", "i-0"]
    assert [r.instance_id for r in await store.list_instances(InstanceFilter(limit=2))] == [
        "i-3",
        "i-2",
    ]
    assert [r.instance_id for r in await store.list_instances(InstanceFilter(name="child"))] == [
        "i-3",
        "i-1",
    ]
    running_ = await store.list_instances(InstanceFilter(status=Status.RUNNING))
    assert [r.instance_id for r in running_] == ["i-0"]
    pending = await store.list_instances(InstanceFilter(status=Status.PENDING, name="orch"))
    assert [r.instance_id for r in pending] == ["i-2"]
    middle = everything[2].created_at
    after = await store.list_instances(InstanceFilter(created_after=middle))
    assert {r.instance_id for r in after} <= {"i-2", "i-3"} and "i-3" in {
        r.instance_id for r in after
    }
    before = await store.list_instances(InstanceFilter(created_before=middle))
    assert {r.instance_id for r in before} <= {"i-0", "i-1"} and "i-0" in {
        r.instance_id for r in before
    }


async def test_get_history_of_unknown_instance_is_empty(store: Store) -> None:
    assert await store.get_history("nope") == []


async def test_send_message_to_missing_instance_raises(store: Store) -> None:
    with pytest.raises(InstanceNotFound) as info:
        await store.send_message("nope", EventRaised(name="x", payload="1"))
    assert info.value.instance_id == "nope"


async def test_messages_to_a_pending_instance_follow_its_start(store: Store) -> None:
    await create(store)
    await store.send_message("i-1", EventRaised(name="early", payload="1"))
    assert kinds(await claim(store)) == ["ExecutionStarted", "EventRaised"]


async def test_message_to_a_finished_instance_is_dropped(store: Store) -> None:
    await create(store)
    await commit(store, await claim(store), ExecutionCompleted(output="1"), status=Status.COMPLETED)
    await store.send_message("i-1", EventRaised(name="late", payload="1"))
    assert await store.claim_orchestration(spec()) is None


# -- claiming and committing --------------------------------------------------------------------


async def test_claim_returns_the_start_message(store: Store) -> None:
    await create(store, data='"hello"')
    item = await claim(store)
    assert (item.instance_id, item.name, item.execution_id, item.version) == ("i-1", "orch", 1, 0)
    assert item.status is Status.PENDING
    assert item.now.tzinfo is not None
    (message,) = item.messages
    assert isinstance(message.event, ExecutionStarted)
    assert (message.event.name, message.event.input) == ("orch", '"hello"')


async def test_claim_only_names_the_worker_can_run(store: Store) -> None:
    await create(store, name="elsewhere")
    assert await store.claim_orchestration(spec()) is None
    assert await store.claim_orchestration(spec(orchestrators=("elsewhere",))) is not None


async def test_a_leased_instance_is_not_claimed_twice(store: Store) -> None:
    await create(store)
    await claim(store)
    assert await store.claim_orchestration(spec(W2)) is None


async def test_commit_appends_contiguous_history_and_sets_status(store: Store) -> None:
    await create(store)
    await commit(
        store, await claim(store), scheduled(0), actions=(activity(0),), custom_status='"s"'
    )
    record = await store.get_instance("i-1")
    assert record is not None
    assert (record.status, record.version, record.custom_status) == (Status.RUNNING, 2, '"s"')
    item = await poke(store)
    assert item.version == 2
    await commit(store, item, scheduled(1), actions=(activity(1),))
    history = await store.get_history("i-1")
    assert [e.seq for e in history] == [0, 1, 2, 3]
    assert [e.kind for e in history] == [
        "ExecutionStarted",
        "ActivityScheduled",
        "EventRaised",
        "ActivityScheduled",
    ]
    assert await store.claim_orchestration(spec()) is None  # consumed messages are gone


async def test_unconsumed_messages_stay_in_the_inbox(store: Store) -> None:
    await create(store)
    await store.send_message("i-1", EventRaised(name="later", payload="2"))
    item = await claim(store)
    await commit(store, item, consumed=[item.messages[0].id])  # the start only
    again = await claim(store)
    assert kinds(again) == ["EventRaised"]


async def test_commit_with_the_wrong_version_is_refused_and_writes_nothing(store: Store) -> None:
    await running(store)
    item = await poke(store)
    before = await store.get_history("i-1")
    with pytest.raises(LeaseLost):
        await commit(store, item, version=item.version - 1, actions=(activity(0),))
    assert await store.get_history("i-1") == before
    assert await store.claim_activity(spec()) is None
    await commit(store, item)  # the lease is still held: the right commit goes through


async def test_commit_by_another_worker_is_refused(store: Store) -> None:
    await create(store)
    item = await claim(store)
    with pytest.raises(LeaseLost):
        await commit(store, item, worker=W2)
    assert await store.get_history("i-1") == []


async def test_commit_after_the_lease_passed_to_another_worker_is_refused(store: Store) -> None:
    await create(store)
    stale = await claim(store, spec(W1, lease=0.2))
    fresh = await eventually(lambda: store.claim_orchestration(spec(W2)))
    with pytest.raises(LeaseLost):
        await commit(store, stale, actions=(activity(0),))
    assert await store.get_history("i-1") == []
    assert await store.claim_activity(spec()) is None
    await commit(store, fresh, worker=W2)
    assert await history_kinds(store) == ["ExecutionStarted"]


async def test_concurrent_commits_one_stale_the_others_land(store: Store) -> None:
    for n in range(10):
        await create(store, f"i-{n}")
    items = [await claim(store) for _ in range(10)]
    outcomes: dict[str, str] = {}

    async def commit_one(item: OrchestrationWorkItem) -> None:
        stale = item.instance_id == "i-3"
        try:
            await commit(store, item, version=7 if stale else None)
            outcomes[item.instance_id] = "ok"
        except LeaseLost:
            outcomes[item.instance_id] = "lost"

    async with anyio.create_task_group() as tg:
        for item in items:
            tg.start_soon(commit_one, item)
    assert outcomes.pop("i-3") == "lost"
    assert set(outcomes.values()) == {"ok"} and len(outcomes) == 9
    assert await history_kinds(store, "i-3") == []
    assert await history_kinds(store, "i-4") == ["ExecutionStarted"]


async def test_release_keeps_status_shows_the_error_until_the_next_commit(store: Store) -> None:
    await running(store)
    item = await poke(store)
    report = ErrorInfo("durable.NonDeterminismError", "effect #0 differs")
    await store.release_orchestration("i-1", W2, error=report)  # not W2's: nothing happens
    assert await store.claim_orchestration(spec(W2)) is None
    await store.release_orchestration("i-1", W1, retry_in=0.2, error=report)
    record = await store.get_instance("i-1")
    assert record is not None and (record.status, record.error) == (Status.RUNNING, report)
    again = await eventually(lambda: store.claim_orchestration(spec(W2)))
    assert kinds(again) == kinds(item)
    await commit(store, again, worker=W2)
    record = await store.get_instance("i-1")
    assert record is not None and record.error is None


async def test_renew_leases_keeps_work_from_being_reclaimed(store: Store) -> None:
    await create(store)
    item = await claim(store, spec(lease=0.5))
    await commit(store, item, scheduled(0), actions=(activity(0),))
    await poke(store, claimer=spec(lease=0.5))
    attempt = await store.claim_activity(spec(lease=0.5))
    assert attempt is not None
    deadline = time.monotonic() + 0.8
    while time.monotonic() < deadline:
        await store.renew_leases(W1, 0.5, instances=["i-1"], activities=[attempt.id])
        assert await store.claim_orchestration(spec(W2)) is None
        assert await store.claim_activity(spec(W2)) is None
        await anyio.sleep(0.05)
    # without renewals both leases run out
    assert await eventually(lambda: store.claim_activity(spec(W2)))
    assert await eventually(lambda: store.claim_orchestration(spec(W2)))


async def test_renew_leases_renews_only_the_work_named(store: Store) -> None:
    # a lease the worker lost track of (its commit's reply was lost) must run out
    await create(store, "i-1")
    await create(store, "i-2")
    first = await claim(store, spec(lease=0.5))
    second = await claim(store, spec(lease=0.5))
    assert {first.instance_id, second.instance_id} == {"i-1", "i-2"}
    deadline = time.monotonic() + 0.8
    while time.monotonic() < deadline:
        await store.renew_leases(W1, 0.5, instances=["i-1"])
        await anyio.sleep(0.05)
    taken = await eventually(lambda: store.claim_orchestration(spec(W2)))
    assert taken.instance_id == "i-2"
    await store.renew_leases(W2, 0.5, instances=["i-1"])  # not W2's: no effect
    assert await store.claim_orchestration(spec(W2)) is None


# -- actions --------------------------------------------------------------------------------------


async def test_scheduled_activity_is_claimed_by_its_queue_and_name_only(store: Store) -> None:
    await create(store)
    retry = RetryPolicy(max_attempts=7, initial_interval=timedelta(seconds=0.5))
    action = activity(0, data='["x"]', queue="gpu", retry=retry, timeout=3.0, heartbeat_timeout=2.0)
    await commit(store, await claim(store), scheduled(0, data='["x"]'), actions=(action,))
    assert await store.claim_activity(spec()) is None  # default queue only
    assert await store.claim_activity(spec(queues=("gpu",), activities=("other",))) is None
    item = await store.claim_activity(spec(queues=("gpu", "default")))
    assert item is not None
    assert (item.instance_id, item.execution_id, item.task_id) == ("i-1", 1, 0)
    assert (item.name, item.input, item.queue, item.attempt) == ("act", '["x"]', "gpu", 1)
    assert item.retry == retry.to_json()
    assert (item.timeout, item.heartbeat_timeout, item.heartbeat_details) == (3.0, 2.0, None)
    assert item.scheduled_at.tzinfo is not None
    assert await store.claim_activity(spec(W2, queues=("gpu",))) is None


async def test_a_policy_that_cannot_be_stored_leaves_retry_unset(store: Store) -> None:
    await create(store)
    policy = RetryPolicy.from_tenacity(stop=tenacity.stop_after_attempt(2))
    await commit(store, await claim(store), scheduled(0), actions=(activity(0, retry=policy),))
    item = await store.claim_activity(spec())
    assert item is not None and item.retry is None


async def test_timer_is_invisible_until_due(store: Store) -> None:
    await create(store)
    fire_at = datetime.now(UTC) + timedelta(seconds=0.3)
    timer = TimerCreated(task_id=0, fire_at=fire_at)
    await commit(store, await claim(store), timer, actions=(StartTimer(0, fire_at),))
    assert await store.claim_orchestration(spec()) is None
    item = await eventually(lambda: store.claim_orchestration(spec()))
    assert datetime.now(UTC) >= fire_at
    (message,) = item.messages
    assert isinstance(message.event, TimerFired) and message.event.task_id == 0


async def test_cancel_timer_removes_it(store: Store) -> None:
    await create(store)
    fire_at = datetime.now(UTC) + timedelta(seconds=0.2)
    timer = TimerCreated(task_id=0, fire_at=fire_at)
    await commit(store, await claim(store), timer, actions=(StartTimer(0, fire_at),))
    await commit(store, await poke(store), actions=(CancelTimer(0),))
    await anyio.sleep(0.3)  # past the due time: a timer left behind would be visible now
    assert await store.claim_orchestration(spec()) is None


async def test_child_is_started_and_its_completion_reaches_the_parent(store: Store) -> None:
    await create(store, "parent")
    retry = RetryPolicy(max_attempts=2)
    start = StartChild(4, "child", "kid", '"c"', retry=retry)
    event = SubOrchestrationScheduled(task_id=4, name="child", instance_id="kid", input='"c"')
    await commit(store, await claim(store), event, actions=(start,))
    record = await store.get_instance("kid")
    assert record is not None and record.status is Status.PENDING
    assert (record.parent_instance_id, record.parent_task_id) == ("parent", 4)
    child = await claim(store)
    assert (child.instance_id, child.parent_instance_id, child.parent_task_id) == (
        "kid",
        "parent",
        4,
    )
    assert (child.retry, child.attempt) == (retry.to_json(), 1)
    (started,) = child.messages
    assert isinstance(started.event, ExecutionStarted)
    assert (started.event.parent_instance_id, started.event.parent_task_id) == ("parent", 4)
    done = ExecutionCompleted(output='"ok"')
    await commit(
        store, child, done, actions=(Complete('"ok"'),), status=Status.COMPLETED, output='"ok"'
    )
    parent = await claim(store)
    (message,) = parent.messages
    assert message.event == SubOrchestrationCompleted(
        timestamp=message.event.timestamp, task_id=4, result='"ok"'
    )


async def test_failed_child_reaches_the_parent_as_a_failure(store: Store) -> None:
    await create(store, "parent")
    await commit(store, await claim(store), actions=(StartChild(0, "child", "kid", "1"),))
    child = await claim(store)
    error = ErrorInfo("ValueError", "bad", "Traceback ...")
    await commit(
        store,
        child,
        ExecutionFailed(error=error),
        actions=(Fail(error),),
        status=Status.FAILED,
        error=error,
    )
    (message,) = (await claim(store)).messages
    assert isinstance(message.event, SubOrchestrationFailed)
    assert (message.event.task_id, message.event.error) == (0, error)
    record = await store.get_instance("kid")
    assert record is not None and (record.status, record.error) == (Status.FAILED, error)


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(Status.TERMINATED, "durable.Terminated"), (Status.CANCELED, "durable.Cancelled")],
)
async def test_terminated_or_cancelled_child_fails_the_parents_call(
    store: Store, status: Status, error_type: str
) -> None:
    await create(store, "parent")
    await commit(store, await claim(store), actions=(StartChild(0, "child", "kid", "1"),))
    actions = (MarkCanceled("stop"),) if status is Status.CANCELED else ()
    await commit(store, await claim(store), actions=actions, status=status)
    (message,) = (await claim(store)).messages
    assert isinstance(message.event, SubOrchestrationFailed)
    assert message.event.error.error_type == error_type
    assert "kid" in message.event.error.message


async def test_a_child_id_in_use_fails_the_call(store: Store) -> None:
    await create(store, "taken", name="orch", data='"mine"')
    await create(store, "parent")
    assert (await claim(store)).instance_id == "taken"
    item = await claim(store)
    await commit(store, item, actions=(StartChild(2, "child", "taken", '"theirs"'),))
    (message,) = (await claim(store)).messages
    assert isinstance(message.event, SubOrchestrationFailed)
    assert (message.event.task_id, message.event.error.error_type) == (
        2,
        "durable.InstanceAlreadyExists",
    )
    hint = message.event.error.message  # one that an orchestrator can act on
    assert "ctx.call_sub_orchestrator" in hint and "if_exists" not in hint
    record = await store.get_instance("taken")
    assert record is not None and (record.name, record.input) == ("orch", '"mine"')


async def test_send_event_reaches_an_existing_target_and_skips_a_missing_one(store: Store) -> None:
    await running(store, "target")
    await create(store, "sender")
    actions = (SendEvent("target", "ping", '"p"'), SendEvent("ghost", "ping", '"p"'))
    await commit(store, await claim(store), actions=actions)
    item = await claim(store)
    assert item.instance_id == "target"
    (message,) = item.messages
    assert isinstance(message.event, EventRaised)
    assert (message.event.name, message.event.payload) == ("ping", '"p"')
    assert await store.get_instance("ghost") is None


async def test_continue_as_new_starts_a_fresh_run(store: Store) -> None:
    await create(store, data="0")
    fire_at = datetime.now(UTC) + timedelta(seconds=0.2)
    first = (activity(0), StartTimer(1, fire_at))
    await commit(store, await claim(store), scheduled(0), actions=first)
    item = await poke(store)
    await store.send_message("i-1", EventRaised(name="meanwhile", payload="3"))  # not consumed
    carried = EventRaised(name="carried", payload="2")
    cont = ContinueAsNew("1", carryover=(carried,))
    await commit(
        store,
        item,
        ExecutionContinuedAsNew(input="1"),
        actions=(cont,),
        status=Status.CONTINUED_AS_NEW,
        consumed=[item.messages[0].id],
    )
    record = await store.get_instance("i-1")
    assert record is not None
    assert (record.status, record.execution_id, record.version, record.input) == (
        Status.PENDING,
        2,
        0,
        "1",
    )
    assert await store.get_history("i-1") == []
    assert await store.claim_activity(spec()) is None  # the old run's activity is gone
    nxt = await claim(store)
    assert (nxt.execution_id, nxt.version) == (2, 0)
    assert kinds(nxt) == ["ExecutionStarted", "EventRaised", "EventRaised"]
    started = nxt.messages[0].event
    assert isinstance(started, ExecutionStarted) and started.input == "1"
    names = [m.event.name for m in nxt.messages[1:] if isinstance(m.event, EventRaised)]
    assert names == ["carried", "meanwhile"]
    await commit(store, nxt)
    await anyio.sleep(0.3)  # past the old run's timer: it was deleted
    assert await store.claim_orchestration(spec()) is None
    assert [e.seq for e in await store.get_history("i-1")] == [0, 1, 2]


async def test_results_of_an_older_run_are_dropped_at_claim(store: Store) -> None:
    await create(store, "parent")
    await commit(store, await claim(store), actions=(StartChild(0, "child", "kid", "1"),))
    child = await claim(store)
    parent = await poke(store, "parent")
    cont = ContinueAsNew("2")
    await commit(store, parent, actions=(cont,), status=Status.CONTINUED_AS_NEW)
    # the child of run 1 ends now: its result is addressed to run 1
    await commit(store, child, actions=(Complete("5"),), status=Status.COMPLETED, output="5")
    item = await claim(store)
    assert (item.instance_id, item.execution_id) == ("parent", 2)
    assert kinds(item) == ["ExecutionStarted"]


async def test_terminal_commit_deletes_pending_activities_and_timers(store: Store) -> None:
    await create(store)
    fire_at = datetime.now(UTC) + timedelta(seconds=0.2)
    actions = (activity(0), activity(1), StartTimer(2, fire_at))
    await commit(store, await claim(store), scheduled(0), scheduled(1), actions=actions)
    attempt = await store.claim_activity(spec())
    assert attempt is not None
    item = await poke(store)
    await commit(
        store,
        item,
        ExecutionCompleted(output="9"),
        actions=(Complete("9"),),
        status=Status.COMPLETED,
        output="9",
    )
    record = await store.get_instance("i-1")
    assert record is not None and (record.status, record.output) == (Status.COMPLETED, "9")
    assert await store.claim_activity(spec()) is None
    assert await store.complete_activity(attempt, "1") == (False, None)
    await anyio.sleep(0.3)
    assert await store.claim_orchestration(spec()) is None


async def test_terminate_passes_on_to_running_children(store: Store) -> None:
    await create(store, "parent")
    starts = (StartChild(0, "child", "kid-1", "1"), StartChild(1, "child", "kid-2", "2"))
    await commit(store, await claim(store), actions=starts)
    kid = await claim(store)
    await commit(store, kid, actions=(Complete("1"),), status=Status.COMPLETED, output="1")
    await store.send_message("parent", ExecutionTerminated(reason="enough"))
    parent = await claim(store, spec(orchestrators=("orch",)))
    assert kinds(parent) == ["SubOrchestrationCompleted", "ExecutionTerminated"]
    await commit(store, parent, status=Status.TERMINATED)
    running_kid = await claim(store)
    assert running_kid.instance_id == "kid-2"
    assert kinds(running_kid) == ["ExecutionStarted", "ExecutionTerminated"]
    assert await store.claim_orchestration(spec()) is None  # kid-1 had finished


async def test_suspended_instance_waits_for_a_control_message(store: Store) -> None:
    await running(store)
    await store.send_message("i-1", ExecutionSuspended(reason="hold"))
    await commit(store, await claim(store), status=Status.SUSPENDED)
    await store.send_message("i-1", EventRaised(name="kept", payload="1"))
    assert await store.claim_orchestration(spec()) is None
    await store.send_message("i-1", ExecutionResumed())
    item = await claim(store)
    assert kinds(item) == ["EventRaised", "ExecutionResumed"]


# -- activities -----------------------------------------------------------------------------------


async def scheduled_activity(store: Store, **options: Any) -> None:
    """A running instance ``i-1`` with activity task 0 scheduled."""
    await create(store)
    await commit(store, await claim(store), scheduled(0), actions=(activity(0, **options),))


async def test_complete_activity_first_completion_wins(store: Store) -> None:
    await scheduled_activity(store)
    item = await store.claim_activity(spec())
    assert item is not None
    assert await store.complete_activity(item, '"first"') == (True, None)
    assert await store.complete_activity(item, '"second"') == (False, None)
    messages = (await claim(store)).messages
    assert [m.event for m in messages] == [
        ActivityCompleted(timestamp=messages[0].event.timestamp, task_id=0, result='"first"')
    ]


async def test_a_stale_attempt_cannot_complete(store: Store) -> None:
    await scheduled_activity(store)
    stale = await store.claim_activity(spec(W1, lease=0.2))
    assert stale is not None
    fresh = await eventually(lambda: store.claim_activity(spec(W2)))
    assert fresh.attempt == 2
    assert await store.complete_activity(stale, '"stale"') == (False, None)
    assert await store.heartbeat_activity(stale, "{}", 30) is False
    assert await store.fail_activity(stale, ErrorInfo("E", "x"), retry_in=None) is False
    assert await store.complete_activity(fresh, '"fresh"') == (True, None)
    (message,) = (await claim(store)).messages
    assert isinstance(message.event, ActivityCompleted) and message.event.result == '"fresh"'


async def test_fail_with_retry_reschedules_and_keeps_the_count(store: Store) -> None:
    await scheduled_activity(store)
    first = await store.claim_activity(spec())
    assert first is not None and first.attempt == 1
    ok = await store.fail_activity(first, ErrorInfo("OSError", "down"), retry_in=0.2)
    assert ok
    assert await store.claim_activity(spec()) is None
    second = await eventually(lambda: store.claim_activity(spec()))
    assert (second.id, second.attempt) == (first.id, 2)
    assert await store.claim_orchestration(spec()) is None  # nothing for the orchestrator yet
    error = ErrorInfo("OSError", "still down", "tb")
    assert await store.fail_activity(second, error, retry_in=None) is True
    (message,) = (await claim(store)).messages
    assert isinstance(message.event, ActivityFailed)
    assert (message.event.task_id, message.event.error, message.event.attempts) == (0, error, 2)
    assert await store.claim_activity(spec()) is None


async def test_heartbeat_details_reach_the_next_attempt(store: Store) -> None:
    await scheduled_activity(store)
    first = await store.claim_activity(spec())
    assert first is not None
    assert await store.heartbeat_activity(first, '{"page": 3}', 30)
    await store.fail_activity(first, ErrorInfo("OSError", "x"), retry_in=0)
    second = await store.claim_activity(spec())
    assert second is not None and second.heartbeat_details == '{"page": 3}'


async def test_eager_claims_only_what_the_worker_serves(store: Store) -> None:
    await create(store)
    actions = (
        activity(0),
        activity(1, queue="gpu"),
        activity(2, name="other"),
        activity(3),
        activity(4),
    )
    events = [scheduled(n) for n in range(5)]
    eager = spec(activities=("act",))
    items = await commit(
        store, await claim(store), *events, actions=actions, eager=eager, eager_limit=2
    )
    assert [(i.task_id, i.attempt, i.worker_id) for i in items] == [(0, 1, W1), (3, 1, W1)]
    others: list[int] = []
    while (item := await store.claim_activity(spec(W2, queues=("default", "gpu")))) is not None:
        others.append(item.task_id)
    assert sorted(others) == [1, 2, 4]
    assert await store.complete_activity(items[0], "0") == (True, None)


def next_episode(
    item: ActivityWorkItem, version: int, *, result: str = "1", schedule: bool = True
) -> EpisodeCommit:
    """What a worker decides before completing ``item``: the completion recorded at ``version``,
    then (``schedule``) activity task 1 scheduled."""
    events: list[HistoryEvent] = [ActivityCompleted(task_id=item.task_id, result=result)]
    if schedule:
        events.append(scheduled(1))
    return EpisodeCommit(
        instance_id=item.instance_id,
        worker_id=W1,
        execution_id=item.execution_id,
        expected_version=version,
        events=[dataclasses.replace(e, seq=version + i) for i, e in enumerate(events)],
        actions=(activity(1),) if schedule else (),
        consumed=[],
        status=Status.RUNNING,
    )


async def test_a_completion_commits_the_episode_decided_before_it(store: Store) -> None:
    await scheduled_activity(store)
    item = await store.claim_activity(spec())
    assert item is not None
    then = next_episode(item, 2)
    done, eager = await store.complete_activity(item, "1", then=then, eager=spec(), eager_limit=1)
    assert done and eager is not None
    assert [(a.task_id, a.worker_id, a.attempt) for a in eager] == [(1, W1, 1)]
    assert await history_kinds(store) == [
        "ExecutionStarted",
        "ActivityScheduled",
        "ActivityCompleted",
        "ActivityScheduled",
    ]
    record = await store.get_instance("i-1")
    assert record is not None and record.version == 4 and record.status is Status.RUNNING
    # nothing went to the inbox, and nothing stays leased
    assert await store.claim_orchestration(spec(W2)) is None
    assert await store.claim_activity(spec(W2)) is None  # task 1 went to W1 eagerly
    assert await store.complete_activity(eager[0], "2") == (True, None)
    assert kinds(await claim(store, spec(W2))) == ["ActivityCompleted"]


async def test_a_completion_without_the_deciding_claim_goes_to_the_inbox(store: Store) -> None:
    await scheduled_activity(store)
    item = await store.claim_activity(spec())
    assert item is not None
    assert await store.complete_activity(item, "1", then=next_episode(item, 2)) == (True, None)
    assert await history_kinds(store) == ["ExecutionStarted", "ActivityScheduled"]
    assert kinds(await claim(store)) == ["ActivityCompleted"]


async def test_an_episode_is_declined_when_another_message_waits(store: Store) -> None:
    # it was decided without that message, which must be applied first
    await scheduled_activity(store)
    item = await store.claim_activity(spec())
    assert item is not None
    await store.send_message("i-1", EventRaised(name="go", payload="null"))
    then = next_episode(item, 2)
    assert await store.complete_activity(item, "1", then=then, eager=spec()) == (True, None)
    assert await history_kinds(store) == ["ExecutionStarted", "ActivityScheduled"]
    assert kinds(await claim(store)) == ["EventRaised", "ActivityCompleted"]


async def test_an_episode_is_declined_for_an_instance_leased_elsewhere(store: Store) -> None:
    await scheduled_activity(store)
    item = await store.claim_activity(spec())
    assert item is not None
    held = await poke(store, claimer=spec(W2))  # W2 holds the instance
    then = next_episode(item, 2)
    assert await store.complete_activity(item, "1", then=then, eager=spec()) == (True, None)
    assert await history_kinds(store) == ["ExecutionStarted", "ActivityScheduled"]
    await commit(store, held, worker=W2)
    assert kinds(await claim(store)) == ["ActivityCompleted"]


async def test_an_episode_is_declined_at_another_version(store: Store) -> None:
    await scheduled_activity(store)
    item = await store.claim_activity(spec())
    assert item is not None
    await commit(store, await poke(store))  # the history moved on: version 3
    then = next_episode(item, 2)
    assert await store.complete_activity(item, "1", then=then, eager=spec()) == (True, None)
    assert await history_kinds(store) == ["ExecutionStarted", "ActivityScheduled", "EventRaised"]
    assert kinds(await claim(store)) == ["ActivityCompleted"]


async def test_an_episode_is_declined_for_a_suspended_instance(store: Store) -> None:
    await scheduled_activity(store)
    item = await store.claim_activity(spec())
    assert item is not None
    await store.send_message("i-1", ExecutionSuspended())
    await commit(store, await claim(store), status=Status.SUSPENDED)
    then = next_episode(item, 3)
    assert await store.complete_activity(item, "1", then=then, eager=spec()) == (True, None)
    assert (await history_kinds(store))[-1] == "ExecutionSuspended"


async def test_an_episode_is_not_committed_when_the_lease_was_lost(store: Store) -> None:
    await scheduled_activity(store)
    item = await store.claim_activity(spec())
    assert item is not None
    assert await store.complete_activity(item, "1") == (True, None)
    then = next_episode(item, 2)
    assert await store.complete_activity(item, "1", then=then, eager=spec()) == (False, None)
    assert await history_kinds(store) == ["ExecutionStarted", "ActivityScheduled"]


async def test_an_episode_that_does_not_record_the_completion_is_refused(store: Store) -> None:
    # a worker bug: refused before anything is written, so the attempt can still complete
    await scheduled_activity(store)
    item = await store.claim_activity(spec())
    assert item is not None
    wrong = dataclasses.replace(
        next_episode(item, 2), events=[dataclasses.replace(scheduled(1), seq=2)]
    )
    with pytest.raises(ValueError, match="does not record it first"):
        await store.complete_activity(item, "1", then=wrong, eager=spec())
    assert await store.complete_activity(item, "1") == (True, None)


async def fanned_out(store: Store, tasks: range) -> list[ActivityWorkItem]:
    """An instance that scheduled ``tasks``, each claimed by W1."""
    await create(store)
    await commit(
        store,
        await claim(store),
        *(scheduled(task) for task in tasks),
        actions=tuple(activity(task) for task in tasks),
    )
    attempts = [await store.claim_activity(spec()) for _ in tasks]
    assert all(attempts)
    return sorted((a for a in attempts if a is not None), key=lambda a: a.task_id)


def gathered(attempts: list[ActivityWorkItem], version: int) -> EpisodeCommit:
    """The episode that records every completion of ``attempts``, in order, and ends the run."""
    events: list[HistoryEvent] = [
        ActivityCompleted(task_id=a.task_id, result=str(a.task_id)) for a in attempts
    ]
    events.append(ExecutionCompleted(output="3"))
    return EpisodeCommit(
        instance_id=attempts[0].instance_id,
        worker_id=W1,
        execution_id=attempts[0].execution_id,
        expected_version=version,
        events=[dataclasses.replace(e, seq=version + i) for i, e in enumerate(events)],
        actions=(Complete("3"),),
        consumed=[],
        status=Status.COMPLETED,
    )


async def test_several_completions_commit_with_one_episode(store: Store) -> None:
    attempts = await fanned_out(store, range(3))
    first, *more = attempts
    done, eager = await store.complete_activity(
        first,
        "0",
        more=[(a, str(a.task_id)) for a in more],
        then=gathered(attempts, 4),
        eager=spec(),
    )
    assert done and eager == []
    record = await store.get_instance("i-1")
    assert record is not None and (record.status, record.output) == (Status.COMPLETED, "3")
    assert (await history_kinds(store)).count("ActivityCompleted") == 3


async def test_several_completions_with_a_lost_lease_go_to_the_inbox(store: Store) -> None:
    attempts = await fanned_out(store, range(3))
    first, *more = attempts
    assert await store.complete_activity(more[-1], "2") == (True, None)  # its lease is spent
    done, eager = await store.complete_activity(
        first,
        "0",
        more=[(a, str(a.task_id)) for a in more],
        then=gathered(attempts, 4),
        eager=spec(),
    )
    assert done and eager is None
    assert await history_kinds(store) == ["ExecutionStarted", *["ActivityScheduled"] * 3]
    item = await claim(store)
    assert sorted(m.event.task_id for m in item.messages) == [0, 1, 2]  # type: ignore[attr-defined]


async def test_concurrent_completions_of_one_instance_each_land_once(store: Store) -> None:
    # a fan-out's results arriving together (stores may record them in one statement), each
    # with an episode decided from the same version: at most one commits with its episode, the
    # others wait in the inbox; every result reaches the instance exactly once
    await create(store)
    tasks = range(8)
    await commit(
        store,
        await claim(store),
        *(scheduled(task) for task in tasks),
        actions=tuple(activity(task) for task in tasks),
    )
    attempts = [await store.claim_activity(spec()) for _ in tasks]
    committed: list[int] = []

    async def complete(item: ActivityWorkItem | None) -> None:
        assert item is not None
        then = next_episode(item, 10, result=str(item.task_id), schedule=False)
        done, eager = await store.complete_activity(
            item, str(item.task_id), then=then, eager=spec()
        )
        assert done
        if eager is not None:
            committed.append(item.task_id)

    async with anyio.create_task_group() as tg:
        for attempt in attempts:
            tg.start_soon(complete, attempt)
    assert len(committed) <= 1
    results = [e for e in await store.get_history("i-1") if isinstance(e, ActivityCompleted)]
    if len(results) < len(tasks):  # the rest waited in the inbox
        results += [m.event for m in (await claim(store)).messages]  # type: ignore[misc]
    assert sorted(e.task_id for e in results if isinstance(e, ActivityCompleted)) == list(tasks)
    assert all(isinstance(e, ActivityCompleted) and e.result == str(e.task_id) for e in results)


async def test_a_completion_in_the_inbox_is_stamped(store: Store) -> None:
    await scheduled_activity(store)
    attempt = await store.claim_activity(spec())
    assert attempt is not None
    assert await store.complete_activity(attempt, '"r"') == (True, None)
    (message,) = (await claim(store)).messages
    assert isinstance(message.event, ActivityCompleted) and message.event.result == '"r"'
    assert message.event.timestamp.tzinfo is not None


async def test_the_start_message_is_stamped_with_the_creation_time(store: Store) -> None:
    await create(store)
    record = await store.get_instance("i-1")
    (message,) = (await claim(store)).messages
    assert record is not None and message.event.timestamp == record.created_at


def first_episode(instance_id: str = "i-1", data: str = "1") -> EpisodeCommit:
    """What a worker decides for a start made in its process: the start, activity 0 scheduled."""
    events = [ExecutionStarted(name="orch", input=data), scheduled(0)]
    return EpisodeCommit(
        instance_id=instance_id,
        worker_id=W1,
        execution_id=1,
        expected_version=0,
        events=[dataclasses.replace(e, seq=i) for i, e in enumerate(events)],
        actions=(activity(0),),
        consumed=[],
        status=Status.RUNNING,
    )


async def test_start_instance_commits_the_first_episode_with_the_creation(store: Store) -> None:
    eager = await store.start_instance(
        NewInstance("i-1", "orch", "1"), first_episode(), eager=spec(), eager_limit=1
    )
    assert eager is not None and [(a.task_id, a.worker_id, a.attempt) for a in eager] == [
        (0, W1, 1)
    ]
    assert await history_kinds(store) == ["ExecutionStarted", "ActivityScheduled"]
    record = await store.get_instance("i-1")
    assert record is not None and (record.status, record.version) == (Status.RUNNING, 2)
    assert (record.input, record.name) == ("1", "orch")
    assert await store.claim_orchestration(spec(W2)) is None  # nothing waits, nothing leased
    # a taken id: None, and nothing written
    again = await store.start_instance(
        NewInstance("i-1", "orch", "2"), first_episode(data="2"), eager=spec()
    )
    assert again is None
    record = await store.get_instance("i-1")
    assert record is not None and (record.input, record.version) == ("1", 2)


async def test_start_instance_without_eager_room_leaves_the_activities_to_claimers(
    store: Store,
) -> None:
    eager = await store.start_instance(
        NewInstance("i-1", "orch", "1"), first_episode(), eager=spec(), eager_limit=0
    )
    assert eager == []
    item = await store.claim_activity(spec(W2))
    assert item is not None and (item.instance_id, item.task_id) == ("i-1", 0)


async def test_start_instance_refuses_an_episode_that_is_not_a_first(store: Store) -> None:
    wrong = dataclasses.replace(first_episode(), expected_version=1)
    with pytest.raises(ValueError, match="first episode"):
        await store.start_instance(NewInstance("i-1", "orch", "1"), wrong, eager=spec())
    assert await store.get_instance("i-1") is None


async def test_expire_unstarted_fails_activities_not_started_in_time(store: Store) -> None:
    await create(store)
    actions = (
        activity(0, schedule_to_start_timeout=0.05),
        activity(1, schedule_to_start_timeout=0.05),
    )
    await commit(store, await claim(store), scheduled(0), scheduled(1), actions=actions)
    started_in_time = await store.claim_activity(spec())
    assert started_in_time is not None and started_in_time.task_id == 0
    assert await eventually(store.expire_unstarted) == 1
    assert await store.expire_unstarted() == 0
    (message,) = (await claim(store)).messages
    assert isinstance(message.event, ActivityFailed)
    assert (message.event.task_id, message.event.attempts) == (1, 0)
    assert message.event.error.error_type == "durable.TaskTimeout"
    assert "'act'" in message.event.error.message
    assert "schedule_to_start_timeout" in message.event.error.message
    assert await store.complete_activity(started_in_time, "1") == (True, None)


# -- purge ----------------------------------------------------------------------------------------


async def test_purge(store: Store) -> None:
    assert await store.purge_instance("nope") == 0
    await running(store)
    with pytest.raises(DurableError, match="RUNNING"):
        await store.purge_instance("i-1")
    await commit(
        store, await poke(store), actions=(Complete("1"),), status=Status.COMPLETED, output="1"
    )
    assert await store.purge_instance("i-1") == 1
    assert await store.get_instance("i-1") is None
    assert await store.get_history("i-1") == []
    await create(store, data="2")  # the id starts clean
    item = await claim(store)
    assert kinds(item) == ["ExecutionStarted"] and item.version == 0


async def test_purge_takes_the_sub_orchestrations_with_it(store: Store) -> None:
    # parent -> kid-1, kid-2; the first kid claimed -> its own child; "other" is unrelated
    await running(store, "other")
    await commit(
        store, await poke(store, "other"), actions=(Complete("0"),), status=Status.COMPLETED
    )
    await create(store, "parent")
    starts = (StartChild(0, "child", "kid-1", "1"), StartChild(1, "child", "kid-2", "2"))
    await commit(store, await claim(store), actions=starts)
    first = await claim(store)
    grandchild = f"{first.instance_id}.0"
    await commit(store, first, actions=(StartChild(0, "child", grandchild, "3"),))
    parent = await poke(store, "parent", spec(orchestrators=("orch",)))
    await commit(store, parent, actions=(Complete("0"),), status=Status.COMPLETED)
    tree = ["parent", "kid-1", "kid-2", grandchild]

    with pytest.raises(DurableError, match=r"sub-orchestration 'kid-\d' \(and 2 more\) still"):
        await store.purge_instance("parent")  # its children run on: nothing is deleted
    assert all([await store.get_instance(instance_id) for instance_id in tree])
    while (item := await store.claim_orchestration(spec(orchestrators=("child",)))) is not None:
        await commit(store, item, actions=(Complete("1"),), status=Status.COMPLETED)

    assert await store.purge_instance("parent") == 4
    for instance_id in tree:
        assert await store.get_instance(instance_id) is None
        assert await store.get_history(instance_id) == []
    assert await store.purge_instance("parent") == 0
    other = await store.get_instance("other")
    assert other is not None and other.status is Status.COMPLETED
    for instance_id in tree:  # every id starts clean
        await create(store, instance_id)


# -- waiting --------------------------------------------------------------------------------------


async def timed(call: Awaitable[Any]) -> float:
    start = time.monotonic()
    await call
    return time.monotonic() - start


async def test_wait_for_work_wakes_on_a_create(store: Store) -> None:
    elapsed: list[float] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: _record(elapsed, store.wait_for_work(10)))
        await anyio.sleep(0.05)
        await create(store)
    assert elapsed[0] < PROMPT


async def _record(into: list[float], call: Awaitable[Any]) -> None:
    into.append(await timed(call))


async def test_wait_for_work_waits_until_a_timer_is_due(store: Store) -> None:
    await create(store)
    fire_at = datetime.now(UTC) + timedelta(seconds=0.3)
    await commit(store, await claim(store), actions=(StartTimer(0, fire_at),))
    await store.wait_for_work(0)  # the commit's own wake-up, seen
    elapsed = await timed(store.wait_for_work(10))
    assert 0.15 < elapsed < 0.3 + PROMPT
    assert await store.claim_orchestration(spec()) is not None


async def test_wait_for_instance_wakes_on_a_status_change(store: Store) -> None:
    await create(store)
    item = await claim(store)
    elapsed: list[float] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: _record(elapsed, store.wait_for_instance("i-1", 10)))
        await anyio.sleep(0.05)
        await commit(store, item, actions=(Complete("1"),), status=Status.COMPLETED, output="1")
    assert elapsed[0] < PROMPT


async def test_a_wait_since_a_mark_sees_a_finish_that_came_before_it(store: Store) -> None:
    mark = store.instance_mark("i-1")  # as a client takes it before it starts the instance
    await create(store)
    await commit(store, await claim(store), actions=(Complete("1"),), status=Status.COMPLETED)
    assert await timed(store.wait_for_instance("i-1", 10, since=mark)) < PROMPT
    # with nothing since the mark, it waits (up to its timeout)
    await create(store, "i-2")
    assert await timed(store.wait_for_instance("i-2", 0.3, since=store.instance_mark("i-2"))) > 0.2


async def test_wait_returns_after_its_timeout(store: Store) -> None:
    assert await timed(store.wait_for_work(0.1)) < PROMPT
    assert await timed(store.wait_for_instance("nope", 0.1)) < PROMPT


# -- payload fidelity -----------------------------------------------------------------------------

ODD = [
    "ünïcödé ✓",
    "emoji 🎉👩‍👩‍👧‍👦",
    "RTL עברית العربية",
    "combining e\u0301",
    "'; DROP TABLE instances; --",
    "/ % ' ;-- \" \\ \n\t",
    "x" * 100_000,
]


@pytest.mark.parametrize("text", ODD, ids=range(len(ODD)))
async def test_payloads_are_stored_verbatim(store: Store, text: str) -> None:
    payload = json.dumps(text, ensure_ascii=False)
    instance_id = text[:200]
    await create(store, instance_id, data=payload)
    record = await store.get_instance(instance_id)
    assert record is not None and (record.instance_id, record.input) == (instance_id, payload)
    await store.send_message(instance_id, EventRaised(name=text[:50], payload=payload))
    item = await claim(store)
    raised = item.messages[1].event
    assert isinstance(raised, EventRaised) and (raised.name, raised.payload) == (text[:50], payload)
    await commit(store, item, scheduled(0, data=payload), actions=(activity(0, data=payload),))
    attempt = await store.claim_activity(spec())
    assert attempt is not None and attempt.input == payload
    await store.complete_activity(attempt, payload)
    (done,) = (await claim(store)).messages
    assert isinstance(done.event, ActivityCompleted) and done.event.result == payload
    history = await store.get_history(instance_id)
    assert history[0] == dataclasses.replace(item.messages[0].event, seq=0)
    assert history[2] == dataclasses.replace(scheduled(0, data=payload), seq=2)
