"""Export and import of whole instances, on every backend and across backends.

A store is filled by a real worker with instances in many states (finished, failed, waiting
for an event, with a pending timer, with an activity nobody serves, continued as new, a parent
and its child); its export is imported into a fresh store, which must then hold the very same
instances, and a worker must be able to carry the unfinished ones on.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

import durable
from durable import OrchestrationContext, Status
from durable.stores import open_store
from durable.stores.base import InstanceFilter, NewInstance, Store
from durable.stores.dumps import BadDump, InstanceDump, from_json, to_json

from .conftest import fresh_url

WAIT = 20
app = durable.App()


@app.activity
async def add_one(x: int) -> int:
    return x + 1


@app.activity
async def fails(x: int) -> int:
    raise ValueError(f"bad {x}")


@app.orchestrator
def finished(ctx: OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    x = yield ctx.call_activity(add_one, x)
    yield ctx.sleep(0.01)
    return int(x)


@app.orchestrator
def failing(ctx: OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    return int(
        (yield ctx.call_activity(fails.with_options(retry=durable.RetryPolicy(max_attempts=1)), x))
    )


@app.orchestrator
def waiting(ctx: OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    ctx.set_custom_status({"waiting": "go"})
    bonus = yield ctx.wait_for_event("go")
    return x + int(bonus)


@app.orchestrator
def sleeping(ctx: OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    yield ctx.sleep(3600)
    return x


@app.orchestrator
def unserved(ctx: OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    return int((yield ctx.call_activity(add_one.with_options(queue="nobody"), x)))


@app.orchestrator
def counting(ctx: OrchestrationContext, n: int) -> Generator[Any, Any, int]:
    if n < 2:
        yield ctx.continue_as_new(n + 1)
    return n


@app.orchestrator
def parent(ctx: OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    return int((yield ctx.call_sub_orchestrator(waiting, x, instance_id="the-child")))


async def fill(url: str | Store) -> None:
    """Instances in many states; returns when each reached the state it waits in."""
    async with durable.Client(url, app=app) as client, durable.Worker(app, url):
        done = [
            await client.start(finished, 1, instance_id="finished"),
            await client.start(failing, 1, instance_id="failing"),
            await client.start(counting, 0, instance_id="counting"),
        ]
        for handle in done:
            with anyio.fail_after(WAIT):
                while not (await handle.status()).status.is_terminal:
                    await client.store.wait_for_instance(handle.instance_id, 0.2)
        for name, fn in [("waiting", waiting), ("sleeping", sleeping), ("unserved", unserved)]:
            await client.start(fn, 5, instance_id=name)
        await client.start(parent, 7, instance_id="parent")
        with anyio.fail_after(WAIT):
            for instance_id in ("waiting", "sleeping", "unserved", "parent", "the-child"):
                while (await client.get(instance_id).status()).status is not Status.RUNNING:
                    await anyio.sleep(0.02)
            # the parent's episode has committed once its child exists and runs; the unserved
            # activity's row exists once its orchestrator ran
            while len(await client.get("unserved").history()) < 2:
                await anyio.sleep(0.02)


async def export_all(store: Store, page: int = 2) -> list[InstanceDump]:
    dumps: list[InstanceDump] = []
    while True:
        batch = await store.export_instances(
            after=dumps[-1].instance_id if dumps else None, limit=page
        )
        if not batch:
            return dumps
        dumps += batch


@pytest.fixture
async def filled(store: Store) -> Store:
    await fill(store)
    return store


@pytest.mark.parametrize("target", ["same", "sqlite"])
async def test_export_then_import_gives_the_same_instances(
    filled: Store, target: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source = await export_all(filled)
    assert [d.instance_id for d in source] == sorted(
        [
            "finished",
            "failing",
            "counting",
            "waiting",
            "sleeping",
            "unserved",
            "parent",
            "the-child",
        ]
    )
    kind = target if target != "same" else request.node.callspec.params["store"]
    (tmp_path / "copy").mkdir()
    other = open_store(fresh_url(kind, tmp_path / "copy", request))
    await other.open()
    try:
        assert await other.import_instances(source) == []
        copied = await export_all(other, page=100)
        assert copied == source
        for dump in source:
            assert await other.get_history(dump.instance_id) == await filled.get_history(
                dump.instance_id
            )
            assert await other.get_instance(dump.instance_id) == await filled.get_instance(
                dump.instance_id
            )
        # importing again skips every id and changes nothing
        assert sorted(await other.import_instances(source)) == [d.instance_id for d in source]
        assert await export_all(other) == source
    finally:
        await other.close()


async def test_imported_instances_carry_on_under_a_worker(
    filled: Store, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    dumps = await export_all(filled)
    (tmp_path / "copy").mkdir()
    url = fresh_url("sqlite", tmp_path / "copy", request)
    async with durable.Client(url, app=app) as client:
        assert await client.store.import_instances(dumps) == []
        async with durable.Worker(app, url, queues=["default", "nobody"]):
            await client.get("waiting").raise_event("go", 10)
            await client.get("the-child").raise_event("go", 1)
            with anyio.fail_after(WAIT):
                assert await client.get("waiting").result() == 15
                assert await client.get("parent").result() == 8
                assert await client.get("unserved").result() == 6
                assert await client.get("finished").result() == 2
            record = await client.store.get_instance("sleeping")
            assert record is not None and record.status is Status.RUNNING


async def test_dumps_round_trip_through_json(filled: Store) -> None:
    for dump in await export_all(filled):
        text = json.dumps(to_json(dump), ensure_ascii=False)
        assert from_json(json.loads(text)) == dump


async def test_updated_before_finds_instances_untouched_since(store: Store) -> None:
    await store.create_instance(NewInstance("old", "orch", "1"))
    later = datetime.now(UTC) + timedelta(seconds=1)
    found = await store.list_instances(InstanceFilter(updated_before=later))
    assert [r.instance_id for r in found] == ["old"]
    assert (
        await store.list_instances(InstanceFilter(updated_before=later - timedelta(hours=1))) == []
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("format"), "field 'format': expected 'durable.instance/1', got None"),
        (lambda d: d.update(status="DONE"), "instance 'x': field 'status': unknown status 'DONE'"),
        (lambda d: d.update(version="3"), "instance 'x': field 'version': expected int, got str"),
        (lambda d: d.pop("name"), "instance 'x': field 'name': missing"),
        (lambda d: d.update(created_at="yesterday"), "field 'created_at': not an ISO 8601 time"),
        (
            lambda d: d.update(history=[{"kind": "Nope"}]),
            "instance 'x': field 'history[0]': not a history event",
        ),
        (
            lambda d: d.update(inbox=[{"event": {}, "visible_at": 3}]),
            "instance 'x', inbox[0]: field 'visible_at': expected str, got int",
        ),
        (lambda d: d.update(activities=[7]), "field 'activities[0]': expected an object, got int"),
    ],
)
def test_a_bad_dump_names_the_instance_and_field(change: Any, message: str) -> None:
    good = {
        "format": "durable.instance/1",
        "instance_id": "x",
        "name": "orch",
        "status": "PENDING",
        "input": "1",
        "created_at": "2026-11-23T10:00:00+00:00",
        "updated_at": "2026-11-23T10:00:00+00:00",
        "execution_id": 1,
        "version": 0,
        "attempt": 1,
        "history": [],
        "inbox": [],
        "activities": [],
    }
    assert from_json(good).instance_id == "x"
    change(good)
    with pytest.raises(BadDump) as info:
        from_json(good)
    assert message in str(info.value)
