"""Conformance of every backend to ``OutputStore`` (``durable.stores.outputs``): durable streams
(appended by commits and by activities, numbered per key, read in pages) and updates' answers."""

from __future__ import annotations

import anyio

from durable import Status
from durable._actions import Complete, RespondUpdate, WriteStream
from durable.stores.base import Store

from .test_store_conformance import PROMPT, commit, poke, running


async def test_appends_are_numbered_per_key_and_read_from_an_offset(store: Store) -> None:
    await running(store)
    assert await store.read_stream("i-1", "a", 0) == []
    await store.append_stream("i-1", [("a", '"a0"'), ("b", '"b0"'), ("a", '"a1"')])
    await store.append_stream("i-1", [("a", '"a2"')])
    assert await store.read_stream("i-1", "a", 0) == ['"a0"', '"a1"', '"a2"']
    assert await store.read_stream("i-1", "a", 1, limit=1) == ['"a1"']
    assert await store.read_stream("i-1", "b", 0) == ['"b0"']
    assert await store.read_stream("i-1", "a", 3) == []
    assert await store.read_stream("other", "a", 0) == []


async def test_an_episode_appends_after_the_activities_values(store: Store) -> None:
    await running(store)
    await store.append_stream("i-1", [("k", "1")])
    await commit(store, await poke(store), actions=(WriteStream("k", "2"), WriteStream("k", "3")))
    assert await store.read_stream("i-1", "k", 0) == ["1", "2", "3"]


async def test_concurrent_appends_lose_nothing_and_keep_each_writers_order(store: Store) -> None:
    await running(store)

    async def write(writer: int) -> None:
        for n in range(5):
            await store.append_stream("i-1", [("k", f"{writer * 100 + n}")])

    async with anyio.create_task_group() as tg:
        for writer in range(4):
            tg.start_soon(write, writer)
    values = [int(v) for v in await store.read_stream("i-1", "k", 0)]
    assert sorted(values) == sorted(w * 100 + n for w in range(4) for n in range(5))
    for writer in range(4):
        mine = [v for v in values if v // 100 == writer]
        assert mine == sorted(mine)


async def test_answers_are_kept_once_per_update(store: Store) -> None:
    await running(store)
    assert await store.get_update_answer("i-1", "u-1") is None
    answers = (RespondUpdate("u-1", "7", None), RespondUpdate("u-2", None, "no"))
    await commit(store, await poke(store), actions=answers)
    first = await store.get_update_answer("i-1", "u-1")
    assert first is not None and (first.result, first.rejection) == ("7", None)
    second = await store.get_update_answer("i-1", "u-2")
    assert second is not None and (second.result, second.rejection) == (None, "no")
    await commit(store, await poke(store), actions=(RespondUpdate("u-1", "8", None),))
    again = await store.get_update_answer("i-1", "u-1")
    assert again is not None and again.result == "7"  # the first answer wins


async def test_writes_wake_waiting_readers_promptly(store: Store) -> None:
    await running(store)
    mark = store.instance_mark("i-1")
    with anyio.fail_after(PROMPT * 5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.append_stream, "i-1", [("k", "1")])
            await store.wait_for_output("i-1", 10.0, since=mark)
    mark = store.instance_mark("i-1")
    with anyio.fail_after(PROMPT * 5):
        async with anyio.create_task_group() as tg:

            async def answer() -> None:
                actions = (RespondUpdate("u-1", "1", None),)
                await commit(store, await poke(store), actions=actions)

            tg.start_soon(answer)
            await store.wait_for_output("i-1", 10.0, since=mark)


async def test_a_purge_takes_streams_and_answers_with_the_instance(store: Store) -> None:
    await running(store)
    await store.append_stream("i-1", [("k", "1")])
    actions = (RespondUpdate("u-1", "1", None), Complete("1"))
    await commit(store, await poke(store), actions=actions, status=Status.COMPLETED, output="1")
    assert await store.purge_instance("i-1") == 1
    assert await store.read_stream("i-1", "k", 0) == []
    assert await store.get_update_answer("i-1", "u-1") is None
