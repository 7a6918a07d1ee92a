"""Conformance of every backend for durable entities (DESIGN 2a): the messages an episode sends
to an entity reach its inbox, an entity's episode commits its state without history, and, end to
end with a worker, operations, calls, failures, deletion, critical sections and the release of a
lock whose holder is terminated behave alike on SQLite, PostgreSQL and memory."""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import anyio
import pytest

import durable
from durable import EntityId, Status
from durable._actions import CallEntity, SendMessage, SignalEntity
from durable._events import EntityOperation, EntityResponded
from durable.stores.base import EpisodeCommit, Store
from durable.stores.dumps import from_json, to_json

from .test_store_conformance import claim, commit, create, eventually, spec

WAIT = 30.0

app = durable.App()


@app.entity
class Counter:
    state = 0

    def add(self, amount: int) -> int:
        self.state += amount
        return self.state

    def get(self) -> int:
        return self.state

    def explode(self) -> None:
        self.state = -1000
        raise ValueError("no such luck")

    def forget(self) -> None:
        self.delete()

    def tell(self, key: str) -> None:
        self.signal_entity(EntityId("Counter", key), "add", self.state)


@app.entity(name="account")
def account(state: int | None, op: str, arg: Any) -> tuple[Any, Any]:
    balance = state or 0
    if op == "deposit":
        return balance + arg, balance + arg
    if op == "withdraw":
        if arg > balance:
            raise ValueError(f"balance {balance} < {arg}")
        return balance - arg, balance - arg
    if op == "close":
        return durable.DELETE, None
    return balance, balance


@app.orchestrator
def count(ctx: durable.OrchestrationContext, key: str, times: int) -> Generator[Any, Any, Any]:
    counter = EntityId("Counter", key)
    for _ in range(times):
        yield ctx.call_entity(counter, "add", 1)
    try:
        yield ctx.call_entity(counter, "explode")
    except durable.EntityFailed as failed:
        error = (failed.error_type, failed.message)
    total = yield ctx.call_entity(counter, "get")
    return [total, error]


@app.orchestrator
def transfer(ctx: durable.OrchestrationContext, source: str, target: str, times: int) -> Any:
    a, b = EntityId("account", source), EntityId("account", target)
    for _ in range(times):
        with (yield ctx.lock_entities(b, a)):
            balance = yield ctx.call_entity(a, "get")
            if balance >= 1:
                yield ctx.call_entity(a, "withdraw", 1)
                yield ctx.call_entity(b, "deposit", 1)
    return "done"


@app.orchestrator
def hold(ctx: durable.OrchestrationContext, key: str) -> Any:
    with (yield ctx.lock_entities(EntityId("account", key))):
        yield ctx.wait_for_event("never")


# -- the store's part ----------------------------------------------------------------------------


async def test_an_episodes_entity_messages_reach_the_entitys_inbox(store: Store) -> None:
    await create(store, "caller")
    item = await claim(store)
    await create(store, "@Counter@k", name="@Counter")
    await commit(
        store,
        item,
        actions=(
            CallEntity(3, "Counter", "k", "add", "2"),
            SignalEntity("Counter", "k", "add", "5"),
        ),
    )
    entity = await claim(store, spec(orchestrators=("@Counter",)))
    operations = [m.event for m in entity.messages if isinstance(m.event, EntityOperation)]
    assert [(o.operation, o.arg, o.caller_id, o.caller_task) for o in operations] == [
        ("add", "2", "caller", 3),
        ("add", "5", "caller", None),  # a signal names its sender, and no task
    ]
    assert operations[0].caller_execution == item.execution_id


async def test_an_entity_episode_keeps_its_version_and_writes_its_state(store: Store) -> None:
    await create(store, "@Counter@k", name="@Counter")
    await create(store, "caller")
    item = await claim(store, spec(orchestrators=("@Counter",)))
    assert item.instance_id == "@Counter@k"
    answer = EntityResponded(task_id=7, result="3")
    await store.commit_episode(
        EpisodeCommit(
            instance_id=item.instance_id,
            worker_id=item_worker(),
            execution_id=item.execution_id,
            expected_version=item.version,
            events=[],
            actions=[SendMessage("caller", answer, 1), SendMessage("caller", answer, 0)],
            consumed=[m.id for m in item.messages],
            status=Status.RUNNING,
            custom_status='{"state":"3"}',
        )
    )
    record = await store.get_instance("@Counter@k")
    assert record is not None and record.version == item.version
    assert record.custom_status == '{"state":"3"}' and record.status is Status.RUNNING
    caller = await claim(store)
    # the answer for an earlier run (execution 0) was dropped
    assert [m.event.kind for m in caller.messages] == ["ExecutionStarted", "EntityResponded"]


def item_worker() -> str:
    return spec().worker_id


# -- end to end ----------------------------------------------------------------------------------


async def test_calls_signals_failures_and_deletion(store: Store) -> None:
    async with (
        durable.Client(store, app=app) as client,
        durable.Worker(app, store, poll_interval=0.05),
    ):
        assert await client.get_entity(EntityId("Counter", "c")) is None
        handles = [await client.start(count, "c", 5) for _ in range(3)]
        results = [await handle.result(timeout=WAIT) for handle in handles]
        assert max(total for total, _ in results) == 15  # 3 x 5 increments, one at a time
        assert all(error == ["ValueError", "no such luck"] for _, error in results)
        assert (
            await client.get_entity(EntityId("Counter", "c")) == 15
        )  # the failures changed nothing

        for _ in range(10):
            await client.signal_entity(EntityId("Counter", "s"), "add", 2)
        await client.signal_entity(EntityId("Counter", "s"), "explode")  # logged, state kept
        await client.signal_entity(EntityId("Counter", "s"), "tell", "t")
        assert await eventually(lambda: _equals(client, EntityId("Counter", "t"), 20), timeout=WAIT)
        assert await client.get_entity(EntityId("Counter", "s")) == 20

        listed = {info.entity_id for info in await client.list_entities("Counter")}
        assert listed == {EntityId("Counter", key) for key in ("c", "s", "t")}

        await client.signal_entity(EntityId("Counter", "t"), "forget")
        await client.signal_entity(EntityId("account", "x"), "deposit", 3)
        await client.signal_entity(EntityId("account", "x"), "close")
        await eventually(lambda: _equals(client, EntityId("Counter", "t"), None), timeout=WAIT)
        await eventually(lambda: _equals(client, EntityId("account", "x"), None), timeout=WAIT)
        assert EntityId("Counter", "t") not in {i.entity_id for i in await client.list_entities()}


async def test_transfers_under_a_lock_keep_the_total(store: Store) -> None:
    async with (
        durable.Client(store, app=app) as client,
        durable.Worker(app, store, poll_interval=0.05),
    ):
        await client.signal_entity(EntityId("account", "a"), "deposit", 10)
        await client.signal_entity(EntityId("account", "b"), "deposit", 10)
        there = await client.start(transfer, "a", "b", 15)
        back = await client.start(transfer, "b", "a", 15)
        assert await there.result(timeout=WAIT) == "done"
        assert await back.result(timeout=WAIT) == "done"
        a = await client.get_entity(EntityId("account", "a"))
        b = await client.get_entity(EntityId("account", "b"))
        assert a + b == 20


async def test_a_terminated_holder_releases_its_lock(store: Store) -> None:
    async with (
        durable.Client(store, app=app) as client,
        durable.Worker(app, store, poll_interval=0.05),
    ):
        holder = await client.start(hold, "h")
        entity = EntityId("account", "h")
        await eventually(lambda: _locked_by(client, holder.instance_id), timeout=WAIT)
        await client.signal_entity(entity, "deposit", 4)
        await anyio.sleep(0.3)  # a chance for the deposit to run, which it must not
        assert await client.get_entity(entity) is None
        await holder.terminate("enough")
        await eventually(lambda: _equals(client, entity, 4), timeout=WAIT)
        assert (await holder.status()).status is Status.TERMINATED


async def test_entities_are_exported_and_imported(store: Store) -> None:
    async with (
        durable.Client(store, app=app) as client,
        durable.Worker(app, store, poll_interval=0.05),
    ):
        await client.signal_entity(EntityId("Counter", "e"), "add", 9)
        await eventually(lambda: _equals(client, EntityId("Counter", "e"), 9), timeout=WAIT)
        holder = await client.start(hold, "locked")  # a lock and a waiting operation travel too
        await eventually(lambda: _locked_by(client, holder.instance_id), timeout=WAIT)
        await client.signal_entity(EntityId("account", "locked"), "deposit", 2)
    exported = await store.export_instances(limit=1000)
    assert {"@Counter@e", "@account@locked"} <= {dump.instance_id for dump in exported}
    dumps = [from_json(json.loads(json.dumps(to_json(dump)))) for dump in exported]  # the file
    replayed = await durable.testing.replay(app, exported)  # entities have nothing to replay
    assert replayed.ok and replayed.replayed == len(exported) - 2
    async with durable.Client("memory://entities-imported", app=app) as target:
        assert await target.store.import_instances(dumps) == []
        assert await target.get_entity(EntityId("Counter", "e")) == 9
        async with durable.Worker(app, target.store, poll_interval=0.05):
            await target.get(holder.instance_id).terminate("moved")
            await eventually(
                lambda: _equals(target, EntityId("account", "locked"), 2), timeout=WAIT
            )


async def _equals(client: durable.Client, entity: EntityId, value: Any) -> bool:
    return bool(await client.get_entity(entity) == value)


async def _locked_by(client: durable.Client, owner: str) -> bool:
    return any(info.locked_by == owner for info in await client.list_entities())


def test_entity_ids_are_checked_where_they_are_made() -> None:
    with pytest.raises(durable.ConfigurationError, match="no '@'"):
        EntityId("a@b", "k")
    with pytest.raises(durable.ConfigurationError, match="key"):
        EntityId("a", "")
