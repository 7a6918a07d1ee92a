"""Updates end to end (a Client and an in-process Worker) on every store backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import Any

import anyio
import pytest

import durable
from durable import DurableError, OrchestrationContext, TaskTimeout, UpdateRejected

WAIT = 20  # seconds: generous, the tests finish far sooner

app = durable.App()


@app.orchestrator
def counter(ctx: OrchestrationContext, total: int, rounds: int) -> Generator[Any, Any, int]:
    """Adds each ``add`` update to the total and answers with it; rejects negative ones."""
    for _ in range(rounds):
        req = yield ctx.wait_for_update("add")
        if req.arg < 0:
            ctx.reject(req, f"{req.arg} is negative")
            continue
        total += req.arg
        ctx.respond(req, total)
    return total


@app.orchestrator
def racer(ctx: OrchestrationContext) -> Generator[Any, Any, list[str]]:
    """Each round waits for whichever comes first: an update, an event or a timer."""
    seen: list[str] = []
    while len(seen) < 3:
        update = ctx.wait_for_update("poke")
        event = ctx.wait_for_event("nudge")
        timer = ctx.sleep(3600)
        winner = yield ctx.when_any([update, event, timer])
        if winner is update:
            req = winner.result()
            seen.append(f"update {req.arg}")
            ctx.respond(req, len(seen))
        elif winner is event:
            seen.append(f"event {winner.result()}")
        else:
            seen.append("timer")
    return seen


@app.orchestrator
def timer_first(ctx: OrchestrationContext) -> Generator[Any, Any, list[str]]:
    """A wait that lost to a timer must not take the update that comes later."""
    seen = []
    for round_, seconds in enumerate((0.1, 3600)):
        ctx.set_custom_status(f"round {round_}")
        update = ctx.wait_for_update("poke")
        winner = yield ctx.when_any([update, ctx.sleep(seconds)])
        if winner is update:
            ctx.respond(update.result(), f"taken in round {round_}")
            seen.append("update")
        else:
            seen.append("timer")
    return seen


@app.orchestrator
def timed(ctx: OrchestrationContext) -> Generator[Any, Any, str]:
    """A wait for another update times out first: the update ``late`` waits buffered."""
    try:
        yield ctx.wait_for_update("never", timeout=0.2)
    except TaskTimeout:
        ctx.set_custom_status("the first wait timed out")
    req = yield ctx.wait_for_update("late")
    ctx.respond(req, "second wait")
    return "done"


@app.orchestrator
def hopper(ctx: OrchestrationContext, run: int) -> Generator[Any, Any, Any]:
    """Run 1 waits for an event only, then continues as new; run 2 answers the updates."""
    if run == 1:
        yield ctx.wait_for_event("go")
        return ctx.continue_as_new(2)
    answered = []
    for _ in range(3):
        req = yield ctx.wait_for_update("hop")
        answered.append(req.arg)
        ctx.respond(req, f"run {run} took {req.arg}")
    return answered


@app.orchestrator
def ignorer(ctx: OrchestrationContext) -> Generator[Any, Any, str]:
    yield ctx.wait_for_event("stop")
    return "stopped"


@pytest.fixture
async def client(store: Any) -> AsyncIterator[durable.Client]:
    async with durable.Client(store, app=app) as client:
        yield client


@pytest.fixture
async def worker(store: Any) -> AsyncIterator[durable.Worker]:
    async with durable.Worker(app, store, lease_seconds=5, poll_interval=0.05) as worker:
        yield worker


async def test_update_answers_and_rejects(client: durable.Client, worker: durable.Worker) -> None:
    handle = await client.start(counter, 10, 3)
    assert await handle.update("add", 5, timeout=WAIT) == 15
    with pytest.raises(UpdateRejected, match="-1 is negative") as caught:
        await handle.update("add", -1, timeout=WAIT)
    assert caught.value.name == "add"
    assert await handle.update("add", 2, timeout=WAIT) == 17
    assert await handle.result(timeout=WAIT) == 17
    kinds = [e.kind for e in await handle.history()]
    assert kinds.count("UpdateRequested") == 3 and kinds.count("UpdateResponded") == 3
    with pytest.raises(DurableError, match="COMPLETED"):
        await handle.update("add", 1, timeout=WAIT)


async def test_concurrent_updates_are_answered_in_order(
    client: durable.Client, worker: durable.Worker
) -> None:
    handle = await client.start(counter, 0, 20)
    answers = {}

    async def send(n: int) -> None:
        answers[n] = await handle.update("add", 1, timeout=WAIT)

    async with anyio.create_task_group() as tg:
        for n in range(20):
            tg.start_soon(send, n)
    assert sorted(answers.values()) == list(range(1, 21))  # each total seen once
    assert await handle.result(timeout=WAIT) == 20


async def test_updates_race_events_and_timers(
    client: durable.Client, worker: durable.Worker, store: Any
) -> None:
    handle = await client.start(racer)
    assert await handle.update("poke", "a", timeout=WAIT) == 1
    await handle.raise_event("nudge", "b")
    assert await handle.update("poke", "c", timeout=WAIT) == 3
    assert await handle.result(timeout=WAIT) == ["update a", "event b", "update c"]


async def test_a_wait_that_lost_to_a_timer_leaves_the_update_to_the_next(
    client: durable.Client, worker: durable.Worker
) -> None:
    handle = await client.start(timer_first)
    with anyio.fail_after(WAIT):
        while (await handle.status()).custom_status != "round 1":
            await anyio.sleep(0.02)
    assert await handle.update("poke", None, timeout=WAIT) == "taken in round 1"
    assert await handle.result(timeout=WAIT) == ["timer", "update"]


async def test_update_sent_before_the_wait_is_buffered(
    client: durable.Client, worker: durable.Worker
) -> None:
    handle = await client.start(timed)
    # sent at once: it waits buffered while the orchestrator waits for another update
    assert await handle.update("late", None, timeout=WAIT) == "second wait"
    assert await handle.result(timeout=WAIT) == "done"


async def test_buffered_updates_cross_continue_as_new_in_order(
    client: durable.Client, worker: durable.Worker
) -> None:
    handle = await client.start(hopper, 1)
    results: dict[int, Any] = {}

    async def send(n: int) -> None:
        results[n] = await handle.update("hop", n, timeout=WAIT)

    async with anyio.create_task_group() as tg:
        for n in range(3):
            tg.start_soon(send, n)
            await _until_inbox_holds(handle, n + 1)
        await handle.raise_event("go")
    assert await handle.result(timeout=WAIT) == [0, 1, 2]  # first in, first out
    assert results == {n: f"run 2 took {n}" for n in range(3)}


async def _until_inbox_holds(handle: durable.InstanceHandle, count: int) -> None:
    """Wait until the worker has recorded ``count`` updates (so their order is known)."""
    with anyio.fail_after(WAIT):
        while True:
            kinds = [e.kind for e in await handle.history()]
            if kinds.count("UpdateRequested") >= count:
                return
            await anyio.sleep(0.02)


async def test_instance_ending_without_an_answer_fails_the_update(
    client: durable.Client, worker: durable.Worker
) -> None:
    handle = await client.start(ignorer)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:

            async def stop_soon() -> None:
                await _until_inbox_holds(handle, 1)
                await handle.raise_event("stop")

            tg.start_soon(stop_soon)
            with pytest.raises(DurableError, match="without answering update 'nobody'"):
                await handle.update("nobody", 1)


async def test_update_timeout_and_bad_arguments(
    client: durable.Client, worker: durable.Worker
) -> None:
    handle = await client.start(ignorer)
    with pytest.raises(TaskTimeout):
        await handle.update("nobody", 1, timeout=0.2)
    with pytest.raises(durable.ConfigurationError, match="update\\(name\\)"):
        await handle.update("", 1)
    with pytest.raises(durable.SerializationError):
        await handle.update("x", object())
    with pytest.raises(durable.InstanceNotFound):
        await client.get("missing").update("x", 1, timeout=1)
    await handle.terminate()
