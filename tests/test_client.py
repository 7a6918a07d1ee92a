"""The Client and its handles, as a program uses them (no worker unless a test needs one)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import anyio
import pytest

import durable

WAIT = 20  # seconds: generous, the tests finish far sooner

app = durable.App()


@app.orchestrator
def nothing(ctx: durable.OrchestrationContext) -> Generator[Any, Any, None]:
    yield ctx.sleep(3600)


@app.orchestrator
def one(ctx: durable.OrchestrationContext, order: dict[str, Any]) -> Generator[Any, Any, None]:
    yield ctx.sleep(3600)


@app.orchestrator
def two(ctx: durable.OrchestrationContext, a: int, b: str) -> Generator[Any, Any, None]:
    yield ctx.sleep(3600)


@app.orchestrator
def leaf(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    yield ctx.sleep(0)
    return x + 1


@app.orchestrator
def middle(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    result: int = yield ctx.call_sub_orchestrator(leaf, x)  # id: "<parent id>:<task id>"
    return result


@app.orchestrator
def family(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, list[int]]:
    first = yield ctx.call_sub_orchestrator(middle, x)
    second = yield ctx.call_sub_orchestrator(leaf, x, instance_id=f"{ctx.instance_id}-leaf")
    return [first, second]


@pytest.mark.parametrize("with_app", [True, False], ids=["with-app", "without-app"])
async def test_status_input_is_what_the_instance_was_started_with(with_app: bool) -> None:
    async with durable.Client("memory://client-input", app=app if with_app else None) as client:
        assert (await (await client.start("nothing")).status()).input is None
        started = await client.start("one", {"id": "o-1"})
        assert (await started.status()).input == {"id": "o-1"}
        assert (await (await client.start("two", 1, "b")).status()).input == [1, "b"]
        listed = {item.name: item.input for item in await client.list()}
        assert listed == {"nothing": None, "one": {"id": "o-1"}, "two": [1, "b"]}


async def test_purge_takes_the_sub_orchestrations_so_the_id_can_be_used_again(
    store_url: str,
) -> None:
    async with (
        durable.Client(store_url, app=app) as client,
        durable.Worker(app, store_url, poll_interval=0.05),
    ):
        with anyio.fail_after(WAIT):
            handle = await client.start(family, 1, instance_id="fam")
            assert await handle.result() == [2, 2]
            ids = sorted(item.instance_id for item in await client.list())
            assert ids == ["fam", "fam-leaf", "fam:0", "fam:0:0"]
            assert await handle.purge() == 4
            assert await client.list() == []
            again = await client.start(family, 5, instance_id="fam")  # children's ids too
            assert await again.result() == [6, 6]
        with pytest.raises(durable.InstanceNotFound):
            await client.get("nope").purge()


async def test_a_taken_sub_orchestration_id_fails_with_a_hint_an_orchestrator_can_use() -> None:
    url = "memory://client-taken-child"
    async with (
        durable.Client(url, app=app) as client,
        durable.Worker(app, url, poll_interval=0.05),
    ):
        await client.start(nothing, instance_id="fam-leaf")  # in the way of family's child
        with anyio.fail_after(WAIT), pytest.raises(durable.OrchestrationFailed) as info:
            await (await client.start(family, 1, instance_id="fam")).result()
    assert info.value.error_type == "durable.OrchestrationFailed"
    assert "an instance with id 'fam-leaf' already exists" in str(info.value)
    assert "ctx.call_sub_orchestrator an instance_id=" in str(info.value)
    assert "if_exists" not in str(info.value)
