"""The app the command-line tests run: ``durable worker tests.cli_app:app``.

``blocking`` runs an activity that writes a marker file (``started.<pid>.<attempt>``) into the
directory it is given and then waits until a ``go`` file appears there, so a test knows when the
activity is in flight, and which process runs it, without sleeping on a guess.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import anyio

import durable
from durable import OrchestrationContext, RetryPolicy

app = durable.App()

#: not an App, for the test of `durable worker tests.cli_app:not_an_app`
not_an_app = 42


@app.activity
async def increment(x: int) -> int:
    return x + 1


@app.activity(retry=RetryPolicy(max_attempts=1))
async def explode(message: str) -> None:
    raise ValueError(message)


@app.activity
async def wait_for_go(directory: str, value: int) -> int:
    folder = Path(directory)
    attempt = durable.activity_info().attempt
    (folder / f"started.{os.getpid()}.{attempt}").write_text(str(value))
    while not (folder / "go").exists():
        await anyio.sleep(0.02)
    return value * 2


@app.orchestrator
def add_one(ctx: OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    result: int = yield ctx.call_activity(increment, x)
    return result


@app.orchestrator
def family(ctx: OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    result: int = yield ctx.call_sub_orchestrator(add_one, x)  # its id: "<parent id>:0"
    return result


@app.orchestrator
def hands_off(ctx: OrchestrationContext) -> Generator[Any, Any, str]:
    # ends while its child still waits for an event: a child may outlive its parent
    child = ctx.call_sub_orchestrator(approval, instance_id=f"{ctx.instance_id}-child")
    yield ctx.when_any([child, ctx.sleep(0)])
    return "left it running"


@app.orchestrator
def fails(ctx: OrchestrationContext, message: str) -> Generator[Any, Any, None]:
    yield ctx.call_activity(explode, message)


@app.orchestrator
def approval(ctx: OrchestrationContext, stage: str = "review") -> Generator[Any, Any, Any]:
    ctx.set_custom_status({"stage": stage})
    answer = yield ctx.wait_for_event("approved")
    return {"approved": answer}


@app.orchestrator
def nap(ctx: OrchestrationContext, seconds: float) -> Generator[Any, Any, str]:
    yield ctx.sleep(seconds)
    return "rested"


@app.orchestrator
def elsewhere(ctx: OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    # queued where no test worker serves: the activity stays scheduled (for export tests)
    result: int = yield ctx.call_activity(increment.with_options(queue="elsewhere"), x)
    return result


@app.orchestrator
def blocking(ctx: OrchestrationContext, job: dict[str, Any]) -> Generator[Any, Any, int]:
    doubled: int = yield ctx.call_activity(wait_for_go, job["dir"], job["value"])
    return doubled + 1
