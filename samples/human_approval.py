"""Human interaction: wait for a person's answer, with a deadline.

``approve_expense`` waits for the event ``"decision"`` with ``wait_for_event(timeout=...)``:
``TaskTimeout`` is raised at the ``yield`` when nobody answers in time. ``escalate`` races the
event against a durable timer with ``when_any`` and checks which task won. The client delivers
the answer with ``handle.raise_event``; an event raised before the orchestrator waits for it is
buffered. Run it with ``python samples/human_approval.py``.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import anyio

import durable

app = durable.App()
log = logging.getLogger(__name__)  # under `durable worker`, these lines join the worker's log


@app.activity
async def notify(person: str, text: str) -> None:
    log.info("to %s: %s", person, text)


@app.orchestrator
def approve_expense(
    ctx: durable.OrchestrationContext, cents: int, timeout: float
) -> Generator[durable.Task[Any], Any, str]:
    yield ctx.call_activity(notify, "manager", f"please approve {cents} cents")
    ctx.set_custom_status("waiting for the manager")
    try:
        decision = yield ctx.wait_for_event("decision", timeout=timedelta(seconds=timeout))
    except durable.TaskTimeout:
        return "rejected: no answer in time"
    return "approved" if decision["approved"] else f"rejected: {decision['why']}"


# --8<-- [start:escalate]
@app.orchestrator
def escalate(
    ctx: durable.OrchestrationContext, cents: int, timeout: float
) -> Generator[durable.Task[Any], Any, str]:
    answer = ctx.wait_for_event("decision")
    deadline = ctx.sleep(timedelta(seconds=timeout))
    winner = yield ctx.when_any([answer, deadline])
    if winner is answer:
        return f"manager said {answer.result()['approved']}"
    ctx.set_custom_status("waiting for the director")
    yield ctx.call_activity(notify, "director", f"the manager did not answer about {cents} cents")
    decision = yield answer  # the same wait: the director's answer arrives as "decision" too
    return f"director said {decision['approved']}"


# --8<-- [end:escalate]


async def main(store: str) -> None:
    async with durable.Client(store, app=app) as client, durable.Worker(app, store):
        answered = await client.start(approve_expense, 12_000, 3600)
        await until_status(answered, "waiting for the manager")
        await answered.raise_event("decision", {"approved": False, "why": "over budget"})
        print(f"answered: {await answered.result(timeout=30)}")

        silent = await client.start(approve_expense, 500, 0.2)
        print(f"silent: {await silent.result(timeout=30)}")

        quick = await client.start(escalate, 700, 3600)
        await quick.raise_event("decision", {"approved": True})  # buffered until the wait
        print(f"quick: {await quick.result(timeout=30)}")

        slow = await client.start(escalate, 900, 0.2)
        await until_status(slow, "waiting for the director")  # the manager stays silent
        await slow.raise_event("decision", {"approved": True})
        print(f"escalated: {await slow.result(timeout=30)}")


async def until_status(handle: durable.InstanceHandle, custom_status: str) -> None:
    """Poll the custom status (what a UI would show) until it reads ``custom_status``."""
    while (await handle.status()).custom_status != custom_status:
        await anyio.sleep(0.02)


if __name__ == "__main__":
    # This program tells its own story: its activities' lines, indented, and not durable's log.
    logging.basicConfig(level=logging.INFO, format="  %(message)s", stream=sys.stdout)
    logging.getLogger("durable").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp}/approval.db")
