"""The public surface of ``durable`` (DESIGN section 1), used as a newcomer would use it."""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

import anyio
import pytest

import durable

WAIT = 20  # seconds: generous, the tests finish far sooner
BIG = "x" * (3 * 1024 * 1024)  # over the default payload limit of 2 MiB


def test_all_is_sorted_and_importable() -> None:
    assert durable.__all__ == sorted(durable.__all__)
    for name in durable.__all__:
        assert getattr(durable, name) is not None, name
    assert "Serializer" in durable.__all__


def _echo_app(serializer: durable.Serializer | None = None) -> durable.App:
    app = durable.App(serializer=serializer)

    @app.activity
    async def measure(text: str) -> str:
        return text + "!"

    @app.orchestrator
    def echo(ctx: durable.OrchestrationContext, text: str) -> Generator[Any, Any, int]:
        result = yield ctx.call_activity(measure, text)
        return len(result)

    return app


async def test_the_payload_limit_error_says_how_to_raise_it_and_that_works() -> None:
    async with durable.Client("memory://limit-default", app=_echo_app()) as client:
        with pytest.raises(durable.SerializationError) as info:
            await client.start("echo", BIG)
    advice = re.search(r"configurable: (.*)\)$", str(info.value))
    assert advice is not None, str(info.value)
    assert advice.group(1) == "App(serializer=durable.Serializer(max_payload_bytes=...))"

    # the advice, applied as written
    app = _echo_app(durable.Serializer(max_payload_bytes=4 * 1024 * 1024))
    async with (
        durable.Client("memory://limit-raised", app=app) as client,
        durable.Worker(app, "memory://limit-raised", poll_interval=0.05),
    ):
        handle = await client.start("echo", BIG)
        with anyio.fail_after(WAIT):
            assert await handle.result() == len(BIG) + 1
        assert (await handle.status()).input == BIG
