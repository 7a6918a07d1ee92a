"""The error tree: what each error is, as ``except`` clauses see it."""

from __future__ import annotations

import pickle
from collections.abc import Generator
from typing import Any

import anyio
import pytest

import durable
from durable._errors import qualified_name

WAIT = 20  # seconds: generous, the tests finish far sooner

app = durable.App()


@app.orchestrator
def approval(ctx: durable.OrchestrationContext) -> Generator[Any, Any, str]:
    try:
        yield ctx.wait_for_event("approved", timeout=0.05)
    except TimeoutError as exc:  # a TaskTimeout, thrown in at the yield
        return f"{type(exc).__name__}: {exc}"
    return "approved"


def test_task_timeout_is_also_a_timeout_error() -> None:
    with pytest.raises(TimeoutError) as info:
        raise durable.TaskTimeout("instance 'o-1' did not finish within 1 s")
    assert isinstance(info.value, durable.DurableError)
    assert str(info.value) == "instance 'o-1' did not finish within 1 s"
    assert qualified_name(durable.TaskTimeout) == "durable.TaskTimeout"
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is durable.TaskTimeout and str(copy) == str(info.value)


async def test_except_timeout_error_catches_timeouts_of_results_and_waits() -> None:
    async with durable.Client("memory://errors", app=app) as client:
        waiting = await client.start(approval)
        with pytest.raises(TimeoutError, match=r"did not finish within 0\.01 s"):
            await waiting.result(timeout=0.01)  # no worker runs yet
        async with durable.Worker(app, "memory://errors", poll_interval=0.05):
            with anyio.fail_after(WAIT):
                assert await waiting.result() == "TaskTimeout: wait_for_event('approved') timed out"
