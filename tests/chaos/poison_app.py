"""The poison tests' app (issue 17): orchestrators that kill their worker on every episode.

``python -m durable worker tests.chaos.poison_app:app --store URL``; ``DURABLE_LEDGER`` names
the side file where the activity counts its runs.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import Any

import durable

from .worker_app import open_ledger

app = durable.App()


@app.activity
def counted(instance_id: str) -> str:
    connection = open_ledger(os.environ["DURABLE_LEDGER"])
    with connection:
        connection.execute(
            "INSERT INTO ledger VALUES (?, 0, ?, ?, 0, 0)",
            (instance_id, durable.activity_info().attempt, os.getpid()),
        )
    connection.close()
    return "done"


@app.orchestrator
def crash_at_once(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    os._exit(137)  # every episode kills the worker process
    yield ctx.call_activity(counted, ctx.instance_id)  # pragma: no cover


@app.orchestrator
def crash_after_step(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    yield ctx.call_activity(counted, ctx.instance_id)
    os._exit(137)  # the episode after the activity kills the worker process


@app.orchestrator
def healthy(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    yield ctx.call_activity(counted, ctx.instance_id)
    return x + 1


def blocks_its_worker(
    ctx: durable.OrchestrationContext, seconds: float
) -> Generator[Any, Any, str]:
    Path(os.environ["DURABLE_MARKER"]).touch()
    time.sleep(seconds)  # user code blocking its worker (and nothing else)
    yield ctx.sleep(0)
    return "unblocked"


with warnings.catch_warnings():  # its registration rightly warns about time.sleep
    warnings.simplefilter("ignore")
    app.orchestrator(blocks_its_worker)
