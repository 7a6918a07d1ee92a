"""The Client and its handles, as a program uses them (no worker unless a test needs one)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

import durable

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


@pytest.mark.parametrize("with_app", [True, False], ids=["with-app", "without-app"])
async def test_status_input_is_what_the_instance_was_started_with(with_app: bool) -> None:
    async with durable.Client("memory://client-input", app=app if with_app else None) as client:
        assert (await (await client.start("nothing")).status()).input is None
        started = await client.start("one", {"id": "o-1"})
        assert (await started.status()).input == {"id": "o-1"}
        assert (await (await client.start("two", 1, "b")).status()).input == [1, "b"]
        listed = {item.name: item.input for item in await client.list()}
        assert listed == {"nothing": None, "one": {"id": "o-1"}, "two": [1, "b"]}
