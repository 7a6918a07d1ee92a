"""Durable streams end to end: the orchestrator's and activities' values, read in order, once.

The reader in another process runs this module as a script (``reader URL ID KEY``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any

import anyio
import pytest

import durable
from durable import OrchestrationContext

WAIT = 30  # seconds: generous, the tests finish far sooner
ROOT = Path(__file__).resolve().parent.parent

app = durable.App()


@app.activity
async def produce(count: int) -> int:
    for n in range(count):
        durable.write_stream("tokens", n)
    return count


@app.activity
def produce_in_a_thread(count: int) -> int:
    for n in range(count):
        durable.write_stream("tokens", {"n": n})
    return count


@app.orchestrator
def writer(ctx: OrchestrationContext, count: int) -> Generator[Any, Any, int]:
    """Orchestrator values around an activity's values: replay must not write them again."""
    ctx.write_stream("steps", "start")
    made = yield ctx.call_activity(produce, count)
    ctx.write_stream("steps", f"produced {made}")
    yield ctx.sleep(0.01)
    ctx.write_stream("steps", "end")
    return made


@app.orchestrator
def threaded(ctx: OrchestrationContext, count: int) -> Generator[Any, Any, int]:
    return (yield ctx.call_activity(produce_in_a_thread, count))


@app.orchestrator
def paced(ctx: OrchestrationContext, count: int) -> Generator[Any, Any, None]:
    """Writes one value, then waits for the reader's acknowledgement before the next."""
    for n in range(count):
        ctx.write_stream("paced", n)
        yield ctx.wait_for_event("ack")


@app.orchestrator
def failing(ctx: OrchestrationContext) -> Generator[Any, Any, None]:
    ctx.write_stream("steps", "before")
    yield ctx.sleep(0.01)
    raise RuntimeError("boom")


@pytest.fixture
async def client(store: Any) -> AsyncIterator[durable.Client]:
    async with durable.Client(store, app=app) as client:
        yield client


@pytest.fixture
async def worker(store: Any) -> AsyncIterator[durable.Worker]:
    async with durable.Worker(app, store, lease_seconds=5, poll_interval=0.05) as worker:
        yield worker


async def read_all(handle: durable.InstanceHandle, key: str, **kwargs: Any) -> list[Any]:
    with anyio.fail_after(WAIT):
        return [value async for value in handle.read_stream(key, **kwargs)]


async def test_a_reader_sees_each_value_once_in_order_until_the_end(
    client: durable.Client, worker: durable.Worker
) -> None:
    handle = await client.start(writer, 50)
    steps, tokens = await read_all(handle, "steps"), await read_all(handle, "tokens")
    assert steps == ["start", "produced 50", "end"]
    assert tokens == list(range(50))
    assert await handle.result(timeout=WAIT) == 50


async def test_a_late_reader_gets_1000_values_in_order(
    client: durable.Client, worker: durable.Worker
) -> None:
    handle = await client.start(threaded, 1000)
    reading_early = await read_all(handle, "tokens")
    await handle.result(timeout=WAIT)
    late = await read_all(handle, "tokens")  # after the end: every value, then the end
    assert late == reading_early == [{"n": n} for n in range(1000)]
    tail = await read_all(handle, "tokens", start=998, with_offsets=True)
    assert tail == [(998, {"n": 998}), (999, {"n": 999})]


async def test_orchestrator_values_are_written_once_across_replays(store: Any) -> None:
    async with (
        durable.Client(store, app=app) as client,
        durable.Worker(app, store, cache_size=0, poll_interval=0.05),
    ):
        handle = await client.start(writer, 3)
        assert await handle.result(timeout=WAIT) == 3
        assert await read_all(handle, "steps") == ["start", "produced 3", "end"]
        kinds = [e.kind for e in await handle.history()]
        assert kinds.count("StreamWritten") == 3


async def test_values_stay_after_a_failure_and_the_reader_ends(
    client: durable.Client, worker: durable.Worker
) -> None:
    handle = await client.start(failing)
    assert await read_all(handle, "steps") == ["before"]
    with pytest.raises(durable.OrchestrationFailed):
        await handle.result(timeout=WAIT)


async def test_bad_arguments_are_refused_where_given(client: durable.Client) -> None:
    with pytest.raises(durable.InstanceNotFound):
        await read_all(client.get("missing"), "k")
    handle = await client.start(failing)
    with pytest.raises(durable.ConfigurationError, match="start"):
        await read_all(handle, "k", start=-1)
    with pytest.raises(durable.ConfigurationError, match="read_stream\\(key\\)"):
        await read_all(handle, "")
    with pytest.raises(durable.DurableError, match="while an activity runs"):
        durable.write_stream("k", 1)
    await handle.terminate()


async def test_a_reader_in_another_process_sees_values_as_they_are_written(
    store_url: str,
) -> None:
    """Each value is acknowledged only once the other process has printed it: the next is
    written after that, so the reader must be woken for every value while the instance runs."""
    count = 20
    async with (
        durable.Client(store_url, app=app) as client,
        durable.Worker(app, store_url, poll_interval=0.05),
    ):
        handle = await client.start(paced, count)
        command = [sys.executable, "-m", "tests.test_streams", store_url, handle.instance_id]
        async with await anyio.open_process(command, cwd=ROOT) as reader:
            assert reader.stdout is not None
            lines = _lines(reader.stdout)
            seen = []
            with anyio.fail_after(WAIT):
                for _ in range(count):
                    seen.append(json.loads(await lines.__anext__()))
                    await handle.raise_event("ack")
                assert await lines.__anext__() == "END"
                assert await reader.wait() == 0
        assert seen == list(range(count))


async def _lines(stream: Any) -> AsyncIterator[str]:
    buffer = b""
    async for chunk in stream:
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line.decode()


async def _read_in_this_process(url: str, instance_id: str) -> None:
    async with durable.Client(url) as client:
        async for value in client.get(instance_id).read_stream("paced"):
            print(json.dumps(value), flush=True)
    print("END", flush=True)


if __name__ == "__main__":
    anyio.run(_read_in_this_process, sys.argv[1], sys.argv[2])
