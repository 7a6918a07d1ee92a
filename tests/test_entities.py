"""Entities without a store (DESIGN 2a): registration, one operation as a transaction, an entity's
episode (order, locks, early unlocks), and the orchestration's side (calls, critical sections,
locks released when the run ends), each checked against a fresh replay by ``Driver``."""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import pytest

import durable
from durable import EntityId
from durable import _actions as act
from durable import _events as ev
from durable._core.entity_episode import Envelope, decide, entity_state
from durable._status import Status

from .interpreter_kit import Driver

app = durable.App()


@app.entity
class Counter:
    state = 0

    def add(self, amount: int) -> int:
        self.state += amount
        return self.state

    def fail(self) -> None:
        self.state = 99
        self.signal_entity(EntityId("Counter", "other"), "add", 1)
        raise RuntimeError("refused")

    def spread(self, key: str) -> None:
        self.signal_entity(EntityId("Counter", key), "add", self.state)

    def drop(self) -> None:
        self.delete()


@app.entity
def tally(state: Any, op: str, arg: Any) -> tuple[Any, Any]:
    if op == "drop":
        return durable.DELETE, None
    return (state or 0) + arg, None


def op(operation: str, arg: Any = None, caller: str | None = None, task: int = 0) -> Any:
    return ev.EntityOperation(
        operation=operation,
        arg=json.dumps(arg),
        caller_id=caller,
        caller_execution=1 if caller else None,
        caller_task=task if caller else None,
    )


def lock(owner: str, entities: tuple[str, ...], position: int = 0, task: int = 0) -> Any:
    return ev.EntityLockRequest(
        lock_id=f"{owner}#1#{task}",
        owner_id=owner,
        owner_execution=1,
        owner_task=task,
        entities=entities,
        position=position,
    )


def unlock(owner: str, task: int = 0) -> ev.EntityUnlock:
    return ev.EntityUnlock(lock_id=f"{owner}#1#{task}")


def state(custom_status: str) -> Any:
    text = entity_state(custom_status)
    return None if text is None else json.loads(text)


# -- registration and one operation --------------------------------------------------------------


async def test_orchestration_ids_that_start_with_at_are_kept_for_entities() -> None:
    async with durable.Client("memory://entity-ids", app=app) as client:
        with pytest.raises(durable.ConfigurationError, match="kept for durable entities"):
            await client.start(move, instance_id="@Counter@a")


@app.orchestrator
def parent(ctx: durable.OrchestrationContext) -> Generator[Any, Any, Any]:
    yield ctx.call_sub_orchestrator(move, instance_id="@Counter@b")


def test_a_child_id_that_starts_with_at_fails_the_run() -> None:
    end = Driver(app, parent).first
    assert end.status is Status.FAILED and end.error is not None
    assert "kept for durable entities" in end.error.message


def test_registration_checks_what_it_is_given() -> None:
    other = durable.App()
    with pytest.raises(durable.ConfigurationError, match="no public method"):
        other.entity(type("Empty", (), {}))
    with pytest.raises(durable.ConfigurationError, match="plain function"):

        @other.entity
        class Slow:
            async def go(self) -> None: ...

    with pytest.raises(durable.ConfigurationError, match="no '@'"):
        other.entity(tally, name="a@b")
    with pytest.raises(durable.ConfigurationError, match="already registered"):
        other.entity(tally)
        other.entity(tally)


def test_operations_run_in_order_and_a_failure_changes_nothing() -> None:
    episode = decide(
        app,
        "@Counter@c",
        None,
        [op("add", 2), op("fail", caller="orch", task=4), op("add", 3, caller="orch", task=5)],
    )
    assert state(episode.custom_status) == 5
    answers = [a for a in episode.actions if isinstance(a, act.SendMessage)]
    # the failed operation's signal does not go: nothing it did counts
    assert [(a.instance_id, a.event.kind, a.execution_id) for a in answers] == [
        ("orch", "EntityCallFailed", 1),
        ("orch", "EntityResponded", 1),
    ]
    assert answers[1].event == ev.EntityResponded(task_id=5, result="5")


def test_signals_from_an_operation_and_unknown_operations() -> None:
    episode = decide(app, "@Counter@c", None, [op("add", 4), op("spread", "k"), op("nope")])
    (signal,) = episode.actions
    assert isinstance(signal, act.SendMessage) and signal.instance_id == "@Counter@k"
    assert episode.failures and "no operation 'nope'" in episode.failures[0][1]


def test_deleting_forgets_the_state_in_both_forms() -> None:
    kept = decide(app, "@Counter@c", None, [op("add", 1), op("drop")])
    assert entity_state(kept.custom_status) is None
    again = decide(app, "@Counter@c", kept.custom_status, [op("add", 1)])
    assert state(again.custom_status) == 1  # a deleted entity starts again from its initial state
    gone = decide(app, "@tally@t", None, [op("add", 3), op("drop")])
    assert entity_state(gone.custom_status) is None


# -- locks ---------------------------------------------------------------------------------------


def test_a_lock_request_holds_the_entity_and_goes_on_to_the_next() -> None:
    entities = ("@Counter@a", "@Counter@b")
    first = decide(app, "@Counter@a", None, [lock("x", entities)])
    (onward,) = first.actions
    assert isinstance(onward, act.SendMessage) and onward.instance_id == "@Counter@b"
    assert isinstance(onward.event, ev.EntityLockRequest) and onward.event.position == 1
    last = decide(app, "@Counter@b", None, [onward.event])
    (told,) = last.actions
    assert isinstance(told, act.SendMessage)
    assert (told.instance_id, told.event, told.execution_id) == ("x", ev.EntityLocked(task_id=0), 1)


def test_a_held_entity_runs_its_owners_operations_and_the_others_wait_in_order() -> None:
    held = decide(
        app,
        "@Counter@a",
        None,
        [
            lock("x", ("@Counter@a",)),
            op("add", 1, caller="y", task=1),
            op("add", 10, caller="x", task=2),
            lock("z", ("@Counter@a",)),
            op("add", 100),
        ],
    )
    assert state(held.custom_status) == 10
    assert [m.kind for m in Envelope.load(held.custom_status).queue] == [
        "EntityOperation",
        "EntityLockRequest",
        "EntityOperation",
    ]
    released = decide(app, "@Counter@a", held.custom_status, [unlock("x")])
    envelope = Envelope.load(released.custom_status)
    # y's operation ran, then z took the lock: the signal after it waits for z
    assert state(released.custom_status) == 11
    assert envelope.lock is not None and envelope.lock["owner"] == "z"
    assert [m.kind for m in envelope.queue] == ["EntityOperation"]


def test_an_unlock_before_its_request_cancels_it() -> None:
    early = decide(app, "@Counter@b", None, [unlock("x")])
    late = decide(app, "@Counter@b", early.custom_status, [lock("x", ("@Counter@b",))])
    envelope = Envelope.load(late.custom_status)
    assert envelope.lock is None and envelope.cancelled == []
    (told,) = late.actions  # passed on (to an owner that has ended: dropped there)
    assert isinstance(told, act.SendMessage) and told.instance_id == "x"


# -- the orchestration's side ------------------------------------------------------------------


@app.orchestrator
def move(ctx: durable.OrchestrationContext) -> Generator[Any, Any, Any]:
    a, b = EntityId("Counter", "b"), EntityId("Counter", "a")
    with (yield ctx.lock_entities(a, b)):
        try:
            yield ctx.call_entity(a, "fail")
        except durable.EntityFailed as failed:
            caught = failed.error_type
        total = yield ctx.call_entity(b, "add", 1)
    return [caught, total]


@app.orchestrator
def hold(ctx: durable.OrchestrationContext) -> Generator[Any, Any, Any]:
    with (yield ctx.lock_entities(EntityId("Counter", "a"))):
        yield ctx.wait_for_event("go")
        yield ctx.lock_entities(EntityId("Counter", "b"))


def test_a_critical_section_locks_in_the_global_order_and_releases_on_exit() -> None:
    driver = Driver(app, move)
    (request,) = driver.first.actions
    assert request == act.LockEntities(0, ("@Counter@a", "@Counter@b"))
    assert driver.apply(ev.EntityLocked(task_id=0)).actions == [
        act.CallEntity(1, "Counter", "b", "fail", "null")
    ]
    error = ev.ErrorInfo("RuntimeError", "refused")
    driver.apply(ev.EntityCallFailed(task_id=1, error=error))
    end = driver.apply(ev.EntityResponded(task_id=2, result="7"))
    assert end.actions == [
        act.UnlockEntities(0, ("@Counter@a", "@Counter@b")),
        act.Complete('["RuntimeError",7]'),
    ]
    driver.replay()


def test_a_run_that_ends_holding_a_lock_gives_it_back_once() -> None:
    terminated = Driver(app, hold)
    terminated.apply(ev.EntityLocked(task_id=0))
    end = terminated.apply(ev.ExecutionTerminated(reason="stop"))
    assert end.status is Status.TERMINATED
    assert end.actions == [act.UnlockEntities(0, ("@Counter@a",))]

    waiting = Driver(app, hold)  # terminated before the lock came: the request is cancelled
    assert waiting.apply(ev.ExecutionTerminated()).actions == [
        act.UnlockEntities(0, ("@Counter@a",))
    ]


@app.orchestrator
def stray(ctx: durable.OrchestrationContext) -> Generator[Any, Any, Any]:
    with (yield ctx.lock_entities(EntityId("Counter", "a"))):
        yield ctx.call_entity(EntityId("Counter", "elsewhere"), "add", 1)


def test_a_call_outside_the_locked_entities_fails_the_run() -> None:
    driver = Driver(app, stray)
    end = driver.apply(ev.EntityLocked(task_id=0))
    assert end.status is Status.FAILED and end.error is not None
    assert "call only the entities it locked (@Counter@a)" in end.error.message


def test_a_nested_critical_section_fails_the_run() -> None:
    driver = Driver(app, hold)
    driver.apply(ev.EntityLocked(task_id=0))
    end = driver.apply(ev.EventRaised(name="go", payload="null"))
    assert end.status is Status.FAILED and end.error is not None
    assert "holds a critical section already" in end.error.message
    assert act.UnlockEntities(0, ("@Counter@a",)) in end.actions


def test_a_poisoned_run_gives_back_the_locks_its_history_holds() -> None:
    from datetime import UTC, datetime

    from durable._worker.poison import poisoned_end
    from durable.stores.base import OrchestrationWorkItem

    history = [
        ev.EntityLockRequested(task_id=0, entities=("@Counter@a",)),
        ev.EntityUnlockSent(task_id=2, lock_task_id=0),
        ev.EntityLockRequested(task_id=3, entities=("@Counter@a", "@Counter@b")),
    ]
    item = OrchestrationWorkItem(
        "inst", "move", 1, 9, Status.RUNNING, [], datetime(2026, 1, 1, tzinfo=UTC), claims=6
    )
    commit = poisoned_end(item, "w", 5, history)
    assert commit.actions[0] == act.UnlockEntities(3, ("@Counter@a", "@Counter@b"))
    assert isinstance(commit.actions[1], act.Fail)


def test_the_dashboard_draws_entity_effects() -> None:
    from durable.dashboard.flow import _scheduled

    called = ev.EntityCalled(
        task_id=1, entity_name="Counter", entity_key="k", operation="add", arg="1"
    )
    assert _scheduled(called).label == "Counter@k.add"
    unlock = _scheduled(ev.EntityUnlockSent(task_id=2, lock_task_id=0))
    assert (unlock.kind, unlock.state) == ("unlock_entities", "done")


def test_the_lock_owners_signals_pass_and_a_strangers_wait() -> None:
    owner = ev.EntityOperation(operation="add", arg="1", caller_id="x", caller_execution=1)
    stranger = ev.EntityOperation(operation="add", arg="10", caller_id="y", caller_execution=1)
    held = decide(app, "@Counter@a", None, [lock("x", ("@Counter@a",)), stranger, owner])
    assert state(held.custom_status) == 1
    assert held.actions[1:] == []  # signals get no answer
