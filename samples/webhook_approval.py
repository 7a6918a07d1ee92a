"""External completion: an approval that another system answers through a webhook.

``request_approval`` hands the approval to an outside service and returns
``durable.complete_later()``: the attempt stays open, with no worker slot held, until the
service calls back. The callback carries the attempt's token (``durable.activity_info().token``)
and the web handler calls ``client.complete_activity(token, answer)`` (or
``client.fail_activity(token, message)``); the orchestrator's ``call_activity`` then returns the
answer. The attempt's ``timeout`` still applies: a service that never answers makes the attempt
run out, and the activity runs again (a new attempt, as after a lost worker), sending a new
request with a new token; the activity itself gives up after three unanswered requests.

Here the "service" is a JSON-lines outbox file that the approver reads; run it with
``python samples/webhook_approval.py``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Generator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio

import durable

app = durable.App()


class ApprovalExpired(Exception):
    """Nobody answered the requests sent so far."""


@app.activity(
    timeout=timedelta(hours=1), retry=durable.RetryPolicy(non_retryable=[ApprovalExpired])
)
def request_approval(order_id: str, outbox: str) -> Any:
    """Send the approval request (with the token to call back with) and leave it open."""
    info = durable.activity_info()
    if info.attempt > 3:  # each earlier attempt ran out after an hour without an answer
        raise ApprovalExpired(f"no answer to {info.attempt - 1} requests")
    with Path(outbox).open("a") as requests:  # the webhook: here, a line in a file
        requests.write(json.dumps({"order_id": order_id, "token": info.token}) + "\n")
    return durable.complete_later()


@app.orchestrator
def approve_order(
    ctx: durable.OrchestrationContext, order_id: str, outbox: str
) -> Generator[durable.Task[Any], Any, str]:
    try:
        answer = yield ctx.call_activity(request_approval, order_id, outbox)
    except durable.ActivityFailed as exc:
        return f"order {order_id} refused: {exc.message}"
    return f"order {order_id} approved by {answer['by']}"


def pending_requests(outbox: str) -> list[dict[str, str]]:
    """The requests the approval service has received so far."""
    path = Path(outbox)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


async def approve_all(client: durable.Client, outbox: str, by: str) -> int:
    """The approval service's side: answer every request (a second answer is ignored)."""
    answered = 0
    for request in pending_requests(outbox):
        if await client.complete_activity(request["token"], {"by": by}):
            answered += 1
    return answered


async def main(store: str) -> None:
    outbox = str(Path(tempfile.mkdtemp()) / "outbox.jsonl")
    async with durable.Worker(app, store), durable.Client(store, app=app) as client:
        handle = await client.start(approve_order, "o-1", outbox)
        with anyio.fail_after(30):
            while not pending_requests(outbox):
                await anyio.sleep(0.05)
        await approve_all(client, outbox, "alice")
        print(await handle.result(timeout=30))


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/approval.db"
    anyio.run(main, url)
