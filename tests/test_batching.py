"""``Batched``: concurrent calls gathered into one run (the PostgreSQL store's group commit)."""

from __future__ import annotations

import anyio
import pytest

from durable.stores.batching import Batched


class Recorder:
    """A batch function that records each batch and can be held until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = anyio.Event()
        self.hold = False

    async def __call__(self, values: list[int]) -> list[int | Exception]:
        self.batches.append(values)
        if self.hold:
            await self.release.wait()
        return [ValueError(f"bad {v}") if v < 0 else v * 10 for v in values]


async def queued(batched: Batched[int, int], count: int) -> None:
    """Wait until ``count`` calls wait behind the running batch (a condition, not a sleep)."""
    with anyio.fail_after(5):
        while len(batched._waiting) < count:
            await anyio.sleep(0.001)


async def test_a_lone_call_runs_at_once() -> None:
    recorder = Recorder()
    batched = Batched(recorder)
    assert await batched(1, key=1) == 10
    assert recorder.batches == [[1]]


async def test_calls_made_while_a_batch_runs_share_the_next_one() -> None:
    recorder = Recorder()
    recorder.hold = True
    batched = Batched(recorder)
    results: dict[int, int] = {}

    async def call(value: int) -> None:
        results[value] = await batched(value, key=value)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, 0)
        with anyio.fail_after(5):
            while not recorder.batches:
                await anyio.sleep(0.001)
        for value in range(1, 6):
            tg.start_soon(call, value)
        await queued(batched, 5)
        recorder.release.set()
    assert results == {v: v * 10 for v in range(6)}
    assert recorder.batches == [[0], [1, 2, 3, 4, 5]]


async def test_a_key_asked_twice_at_once_waits_for_the_next_batch() -> None:
    recorder = Recorder()
    recorder.hold = True
    batched = Batched(recorder)
    async with anyio.create_task_group() as tg:
        tg.start_soon(batched, 0, 0)
        with anyio.fail_after(5):
            while not recorder.batches:
                await anyio.sleep(0.001)
        for value in (1, 1, 2):
            tg.start_soon(batched, value, value)
        await queued(batched, 3)
        recorder.release.set()
    assert recorder.batches == [[0], [1, 2], [1]]


async def test_an_error_of_one_value_reaches_only_its_caller() -> None:
    batched = Batched(Recorder())
    outcomes: dict[int, object] = {}

    async def call(value: int) -> None:
        try:
            outcomes[value] = await batched(value, key=value)
        except ValueError as exc:
            outcomes[value] = str(exc)

    async with anyio.create_task_group() as tg:
        for value in (1, -2, 3):
            tg.start_soon(call, value)
    assert outcomes == {1: 10, -2: "bad -2", 3: 30}


async def test_a_failed_batch_fails_each_of_its_callers() -> None:
    async def broken(values: list[int]) -> list[int]:
        raise RuntimeError(f"down ({len(values)})")

    batched = Batched(broken)
    with pytest.raises(RuntimeError, match="down"):
        await batched(1, key=1)


async def test_a_cancelled_caller_leaves_the_others_their_results() -> None:
    recorder = Recorder()
    recorder.hold = True
    batched = Batched(recorder)
    results: list[int] = []
    impatient = anyio.CancelScope()

    async def call(value: int) -> None:
        results.append(await batched(value, key=value))

    async def cancelled() -> None:
        with impatient:
            await batched(1, key=1)

    async with anyio.create_task_group() as tg:
        tg.start_soon(cancelled)
        tg.start_soon(call, 2)
        await queued(batched, 1)
        impatient.cancel()  # while the batch it waits for is held
        recorder.release.set()
    assert impatient.cancelled_caught
    assert results == [20]
