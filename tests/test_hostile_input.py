"""Hostile input (issue 17, defects 1, 2 and 5): no string, row or payload can stop a worker.

Before: a lone surrogate or a NUL in a string made inside an orchestrator (an event's target or
name, a child's id, an activity's queue) reached the store raw; the commit raised, the worker
died, and the instance killed every restarted worker. A malformed history or inbox row did the
same. Client calls gave raw ``UnicodeEncodeError``s, or SQLite stored what PostgreSQL refused.
Now each is refused where it is made, the same on every store, or holds its own instance only.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any

import anyio
import asyncpg
import pytest

import durable
from durable import ConfigurationError, Status
from durable._errors import HistoryCorrupted
from durable.stores.base import Store
from tests.test_cli import acli, assert_one_line_error

app = durable.App()
BAD = {"surrogate": "x\ud800", "nul": "x\x00y"}


@app.activity
async def echo(x: int) -> int:
    return x


@app.orchestrator
def child(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    yield ctx.sleep(0)
    return x


@app.orchestrator
def steps(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    value = yield ctx.call_activity(echo, x)
    return int(value) + 1


#: the strings an orchestrator makes that reach the store (defect 1)
MADE_INSIDE: dict[str, Callable[[durable.OrchestrationContext, str], Any]] = {
    "send_event target": lambda ctx, bad: ctx.send_event(bad, "e"),
    "send_event name": lambda ctx, bad: ctx.send_event("other", bad),
    "child id": lambda ctx, bad: ctx.call_sub_orchestrator(child, 1, instance_id=bad),
    "activity queue": lambda ctx, bad: ctx.call_activity(echo.with_options(queue=bad), 1),
    "event name waited for": lambda ctx, bad: ctx.wait_for_event(bad),
}


@app.orchestrator
def hostile(ctx: durable.OrchestrationContext, case: list[str]) -> Generator[Any, Any, None]:
    where, bad = case
    yield ctx.sleep(0)
    yield MADE_INSIDE[where](ctx, BAD[bad])


@pytest.fixture
async def running(store: Store) -> AsyncIterator[durable.Client]:
    async with (
        durable.Client(store, app=app) as client,
        durable.Worker(app, store, lease_seconds=5, poll_interval=0.05),
    ):
        yield client


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("where", sorted(MADE_INSIDE))
async def test_a_bad_string_made_in_an_orchestrator_fails_that_instance_only(
    running: durable.Client, where: str, bad: str
) -> None:
    poisoned = await running.start(hostile, [where, bad], instance_id="hostile")
    with pytest.raises(durable.OrchestrationFailed) as info:
        await poisoned.result(timeout=30)
    assert info.value.error_type == "durable.ConfigurationError"
    assert "NUL and lone surrogates are not allowed" in str(info.value)
    healthy = await running.start(steps, 1)
    assert await healthy.result(timeout=30) == 2  # the worker goes on serving


@pytest.mark.parametrize("bad", sorted(BAD))
async def test_client_calls_refuse_bad_strings_at_the_call_site(store: Store, bad: str) -> None:
    text = BAD[bad]
    async with durable.Client(store) as client:
        handle = await client.start("steps", 1, instance_id="plain")
        calls = [
            lambda: client.start(text, 1),
            lambda: client.start("steps", 1, instance_id=text),
            lambda: client.list(name=text),
            lambda: handle.terminate(reason=text),
            lambda: handle.suspend(reason=text),
            lambda: handle.cancel(reason=text),
            lambda: handle.raise_event(text),
        ]
        for call in calls:
            with pytest.raises(ConfigurationError, match="NUL and lone surrogates"):
                await call()
        assert [s.instance_id for s in await client.list()] == ["plain"]


def test_registration_refuses_bad_names_and_queues() -> None:
    other = durable.App()
    with pytest.raises(ConfigurationError, match="lone surrogate"):
        other.activity(name="a\ud800")(lambda: None)
    with pytest.raises(ConfigurationError, match="NUL"):
        other.activity(queue="q\x00")(lambda: None)


# -- rows durable did not write (defect 2) -------------------------------------------------------

#: history or inbox ``data`` that cannot be read as an event
UNREADABLE = {
    "not json": "{not json",
    "no kind": json.dumps({"seq": 0}),
    "unknown field": json.dumps({"kind": "EventRaised", "name": "e", "bogus": 1}),
    "deep": "[" * 100_000 + "]" * 100_000,
}


async def _corrupt(url: str, sql: str, *params: Any) -> None:
    """Run ``sql`` (with ``?`` placeholders) on the store's database, as an intruder would."""
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        with connection:
            connection.execute(sql, params)
        connection.close()
        return
    dsn, _, schema = url.partition("?schema=")
    for n in range(1, len(params) + 1):
        sql = sql.replace("?", f"${n}", 1)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"SET search_path TO {schema}")
        await conn.execute(sql, *params)
    finally:
        await conn.close()


@app.orchestrator
def waiter(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    value = yield ctx.wait_for_event("go")
    return int(value) + x


def _worker(url: str) -> durable.Worker:
    return durable.Worker(app, url, lease_seconds=5, poll_interval=0.05)


async def _held(client: durable.Client, instance_id: str) -> durable.InstanceStatus:
    with anyio.fail_after(30):
        while True:
            status = await client.get(instance_id).status()
            if status.error:
                return status
            await anyio.sleep(0.05)


@pytest.mark.parametrize("data", sorted(UNREADABLE))
async def test_an_unreadable_inbox_row_holds_its_instance_only(store_url: str, data: str) -> None:
    async with durable.Client(store_url, app=app) as client:
        await client.start(steps, 1, instance_id="victim")
        await _corrupt(
            store_url, "UPDATE inbox SET data = ? WHERE instance_id = ?", UNREADABLE[data], "victim"
        )
        async with _worker(store_url):
            bystander = await client.start(steps, 5)
            assert await bystander.result(timeout=30) == 6
            status = await _held(client, "victim")
        assert status.status is Status.PENDING
        assert "corrupt inbox of instance 'victim'" in (status.error or "")


async def test_a_blob_in_the_inbox_holds_its_instance_only(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'blob.db'}"
    async with durable.Client(url, app=app) as client:
        await client.start(steps, 1, instance_id="victim")
        await _corrupt(
            url, "UPDATE inbox SET data = ? WHERE instance_id = ?", b"\xff\x00", "victim"
        )
        async with _worker(url):
            assert await (await client.start(steps, 5)).result(timeout=30) == 6
            status = await _held(client, "victim")
        assert "corrupt inbox" in (status.error or "")


@pytest.mark.parametrize("data", sorted(UNREADABLE))
async def test_an_unreadable_history_row_holds_its_instance_only(store_url: str, data: str) -> None:
    async with durable.Client(store_url, app=app) as client:
        async with _worker(store_url):
            victim = await client.start(waiter, 1, instance_id="victim")
            with anyio.fail_after(30):
                while (await victim.status()).status is not Status.RUNNING:
                    await anyio.sleep(0.05)
        await _corrupt(
            store_url,
            "UPDATE history SET data = ? WHERE instance_id = ?",
            UNREADABLE[data],
            "victim",
        )
        await victim.raise_event("go", 1)
        async with _worker(store_url):  # a fresh worker: it replays the history
            assert await (await client.start(steps, 5)).result(timeout=30) == 6
            status = await _held(client, "victim")
        assert status.status is Status.RUNNING
        assert "corrupt history of instance 'victim' at seq 0" in (status.error or "")
        with pytest.raises(HistoryCorrupted):
            await victim.history()


async def test_export_and_history_work_for_every_other_instance(store_url: str) -> None:
    async with durable.Client(store_url, app=app) as client:
        async with _worker(store_url):
            for instance_id in ("a", "victim", "z"):
                await (await client.start(steps, 1, instance_id=instance_id)).result(timeout=30)
        await _corrupt(
            store_url,
            "UPDATE history SET data = ? WHERE instance_id = ? AND seq = 1",
            "{not json",
            "victim",
        )
    exported = await acli("export", "--store", store_url)
    assert exported.exit_code == 1
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [line["instance_id"] for line in lines] == ["a", "victim", "z"]
    assert "not exported, unreadable: instance 'victim': history row at seq 1" in exported.stderr
    assert (await acli("history", "a", "--store", store_url)).exit_code == 0
    assert_one_line_error(await acli("history", "victim", "--store", store_url), "seq 1")


async def test_a_worker_on_a_damaged_sqlite_file_says_so_at_start(tmp_path: Any) -> None:
    """Before: a worker on a file with a corrupt table started and ran without a word."""
    path = tmp_path / "damaged.db"
    url = f"sqlite:///{path}"
    async with durable.Client(url, app=app) as client:
        for n in range(300):  # enough rows for several pages of each table and index
            await client.start(steps, n, instance_id=f"filler-{n:04}")
    with path.open("r+b") as file:  # 200 bytes of garbage into page 5 (RELIABILITY F4 c)
        file.seek(4 * 4096)  # its page header
        file.write(bytes(range(200)))
    with pytest.raises(durable.StoreError, match="damaged"):
        async with _worker(url):
            pass
