"""RELIABILITY.md section 5, B1-B8 through a real client and worker, on every store.

The serializer's own unit tests (tests/test_serde.py) cover each value kind; these check what
reaches the store: the same input gives the same outcome on SQLite, PostgreSQL and memory,
either an exact round-trip or an error at the call site with nothing written. B6 and B9 (unknown
names, non-determinism) are tests/test_worker.py's; B10 is tests/test_poison.py's and
tests/test_worker_watchdog.py's; B5's planted 100,000-deep row is tests/test_hostile_input.py's.
"""

from __future__ import annotations

import dataclasses
import socket
import sys
from collections.abc import AsyncIterator, Generator
from typing import Any

import anyio
import pytest

import durable
from durable import ConfigurationError, SerializationError
from durable.stores.base import Store

app = durable.App()


@app.activity
async def echo(value: Any) -> Any:
    return value


@app.orchestrator
def round_trip(ctx: durable.OrchestrationContext, value: Any) -> Generator[Any, Any, Any]:
    """The value goes to an activity and back, then out as the result: three payloads."""
    got = yield ctx.call_activity(echo, value)
    return got


@app.orchestrator
def passes_on(ctx: durable.OrchestrationContext, kind: str) -> Generator[Any, Any, Any]:
    """Hands an activity a value made inside the orchestrator."""
    yield ctx.call_activity(echo, _UNSERIALIZABLE[kind]())
    return "unreachable"


@app.orchestrator
def waits(ctx: durable.OrchestrationContext, count: int) -> Generator[Any, Any, Any]:
    got = []
    for _ in range(count):
        got.append((yield ctx.wait_for_event("e")))
    return got


@dataclasses.dataclass
class Holder:
    thing: Any


def _socket_holder() -> Holder:
    sock = socket.socket()
    sock.close()
    return Holder(sock)


#: B1: values JSON cannot carry
_UNSERIALIZABLE: dict[str, Any] = {
    "object": object,
    "lambda": lambda: lambda: 1,
    "generator": lambda: (n for n in range(3)),
    "set": lambda: {1, 2},
    "socket in a dataclass": _socket_holder,
    "file": lambda: sys.stderr,
}


@pytest.fixture
async def client(store: Store) -> AsyncIterator[durable.Client]:
    async with (
        durable.Client(store, app=app) as opened,
        durable.Worker(app, store, lease_seconds=5, poll_interval=0.05),
    ):
        yield opened


async def test_b1_unserializable_arguments_fail_at_start_and_write_nothing(
    client: durable.Client,
) -> None:
    for kind, make in _UNSERIALIZABLE.items():
        with pytest.raises(SerializationError) as info:
            await client.start(round_trip, {"order": {"items": [1, 2, make()]}})
        assert "(value=...)['order']['items'][2]" in str(info.value), (kind, str(info.value))
    assert await client.list() == []


@pytest.mark.parametrize("kind", ["object", "set", "socket in a dataclass"])
async def test_b1_unserializable_activity_arguments_fail_their_instance_at_the_line(
    client: durable.Client, kind: str
) -> None:
    handle = await client.start(passes_on, kind)
    with pytest.raises(durable.OrchestrationFailed) as info:
        await handle.result(timeout=30)
    assert info.value.error_type == "durable.SerializationError", info.value
    assert "value" in str(info.value)
    assert await (await client.start(round_trip, 1)).result(timeout=30) == 1


#: B4: text that must round-trip exactly on every store (ids and payloads)
EXACT_TEXT = [
    "emoji 🙂👩‍👩‍👧",
    "RTL שלום مرحبا",
    "combining e\u0301 a\u0308",
    "/ % ' ;-- DROP TABLE instances; --",
    'quote " back\\slash \t tab \n newline',
    "x" * 1000,
]


async def test_b4_text_round_trips_exactly_as_ids_names_and_payloads(
    client: durable.Client,
) -> None:
    for n, text in enumerate(EXACT_TEXT):
        instance_id = text if len(text) == 1000 else f"{text}-{n}"
        handle = await client.start(round_trip, {text: [text]}, instance_id=instance_id)
        assert await handle.result(timeout=30) == {text: [text]}
        status = await handle.status()
        assert status.instance_id == instance_id
        assert status.input == {text: [text]}
    listed = {s.instance_id for s in await client.list()}
    assert len(listed) == len(EXACT_TEXT)
    assert "x" * 1000 in listed


async def test_b4_refused_text_is_refused_at_the_call_site_on_every_store(
    client: durable.Client,
) -> None:
    with pytest.raises(ConfigurationError, match="1001 characters"):
        await client.start(round_trip, 1, instance_id="x" * 1001)
    for bad in ("\x00", "a\ud800b"):  # PostgreSQL's jsonb refuses both: so does every store
        with pytest.raises(SerializationError):
            await client.start(round_trip, {"text": bad})
    with pytest.raises(SerializationError):
        await client.start(round_trip, float("nan"))
    assert await client.list() == []


async def test_b3_payload_limit_at_the_call_site_and_big_payloads_round_trip(
    client: durable.Client,
) -> None:
    big = "y" * (256 * 1024)
    handle = await client.start(round_trip, big)
    assert await handle.result(timeout=60) == big
    with pytest.raises(SerializationError, match="over the limit"):
        await client.start(round_trip, "z" * (2 * 1024 * 1024 + 1))
    assert len(await client.list()) == 1


async def test_b7_concurrent_starts_of_one_id_exactly_one_wins(store: Store) -> None:
    outcomes: list[str] = []

    async def start(client: durable.Client, n: int) -> None:
        try:
            await client.start(waits, 1, instance_id="dup")
            outcomes.append("started")
        except durable.InstanceAlreadyExists:
            outcomes.append("exists")

    async with durable.Client(store, app=app) as one, durable.Client(store, app=app) as two:
        async with anyio.create_task_group() as group:
            for n in range(50):
                group.start_soon(start, one if n % 2 else two, n)
        assert sorted(outcomes) == ["exists"] * 49 + ["started"]
        history = await one.get("dup").history()
        assert [e.kind for e in history].count("ExecutionStarted") <= 1


async def test_b8_events_before_the_first_episode_and_many_at_once_each_land_once(
    store: Store,
) -> None:
    count = 200
    async with durable.Client(store, app=app) as client:
        handle = await client.start(waits, count)  # no worker yet: not run at all
        await handle.raise_event("e", -1)
        async with anyio.create_task_group() as group:
            for n in range(count - 1):
                group.start_soon(handle.raise_event, "e", n)
        async with durable.Worker(app, store, lease_seconds=5, poll_interval=0.05):
            got = await handle.result(timeout=60)
        assert got[0] == -1  # the one sent before any episode ran is delivered, first
        assert sorted(got) == [-1, *range(count - 1)]
        raised = [e for e in await handle.history() if e.kind == "EventRaised"]
        assert len(raised) == count
