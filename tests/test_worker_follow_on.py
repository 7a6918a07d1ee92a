"""A sequence stays in the worker that runs it, even with every activity slot busy, and even when
another worker's episode scheduled its activity: no claim of the instance per step (W6)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import anyio

import durable
from durable import OrchestrationContext, Task

WAIT = 20  # seconds: generous, the tests finish far sooner

app = durable.App()


@app.activity
async def add_one(x: int) -> int:
    return x + 1


@app.orchestrator
def four_in_a_row(ctx: OrchestrationContext, x: int) -> Generator[Task[Any], Any, int]:
    for _ in range(4):
        x = yield ctx.call_activity(add_one, x)
    return x


def count_claims(store: Any, monkeypatch: Any) -> dict[str, int]:
    """How many claims of each kind found work."""
    found = {"orchestrations": 0, "activities": 0}
    for kind, method in (
        ("orchestrations", "claim_orchestration"),
        ("activities", "claim_activity"),
    ):
        real = getattr(store, method)

        async def claiming(spec: Any, real: Any = real, kind: str = kind) -> Any:
            item = await real(spec)
            found[kind] += item is not None
            return item

        monkeypatch.setattr(store, method, claiming)
    return found


async def test_a_finished_attempts_slot_serves_the_next_activity(
    store: Any, monkeypatch: Any
) -> None:
    # one activity slot, held by the attempt whose result leases the next activity: that
    # attempt's slot passes to it, so the sequence needs no claim (each step used to go to the
    # queue). The first activity may be claimed: an idle claim loop can hold the only slot
    # for its claim's round trip just when the start looks for one.
    found = count_claims(store, monkeypatch)
    async with (
        durable.Client(store, app=app) as client,
        durable.Worker(app, store, max_concurrent_activities=1, poll_interval=0.05),
    ):
        assert await (await client.start(four_in_a_row, 0)).result(WAIT) == 4
    assert found["orchestrations"] == 0 and found["activities"] <= 1


async def test_a_result_of_another_workers_activity_replays_the_instance_here(
    store: Any, monkeypatch: Any
) -> None:
    # a worker that runs no activities decides the first episode; a second worker, which never
    # saw the instance, takes the activity and records its result with the next episode
    # (replayed from the history), and goes on: the instance is never claimed
    async with durable.Client(store, app=app) as client:
        async with durable.Worker(app, store, queues=[], poll_interval=0.05):
            handle = await client.start(four_in_a_row, 0)
            with anyio.fail_after(WAIT):
                while [e.kind for e in await store.get_history(handle.instance_id)][-1:] != [
                    "ActivityScheduled"
                ]:
                    await anyio.sleep(0.02)
        found = count_claims(store, monkeypatch)
        async with durable.Worker(app, store, poll_interval=0.05) as worker:
            assert await handle.result(WAIT) == 4
            assert worker.replays == 1
    assert found == {"orchestrations": 0, "activities": 1}
