"""samples/webhook_approval.py with the testing kit: approved, refused, and mocked away."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from durable.testing import Environment
from samples.webhook_approval import (
    app,
    approve_all,
    approve_order,
    pending_requests,
    request_approval,
)

pytestmark = pytest.mark.durable_app(app)


async def _token(outbox: str) -> str:
    with anyio.fail_after(10):
        while not pending_requests(outbox):
            await anyio.sleep(0.01)
    return pending_requests(outbox)[0]["token"]


async def test_the_service_approves(durable_env: Environment, tmp_path: Path) -> None:
    outbox = str(tmp_path / "outbox.jsonl")
    handle = await durable_env.client.start(approve_order, "o-1", outbox)
    await _token(outbox)
    assert await approve_all(durable_env.client, outbox, "alice") == 1
    assert await approve_all(durable_env.client, outbox, "bob") == 0  # answered already
    assert await handle.result(timeout=10) == "order o-1 approved by alice"


async def test_the_service_refuses(durable_env: Environment, tmp_path: Path) -> None:
    outbox = str(tmp_path / "outbox.jsonl")
    handle = await durable_env.client.start(approve_order, "o-2", outbox)
    assert await durable_env.client.fail_activity(await _token(outbox), "over budget")
    assert await handle.result(timeout=10) == "order o-2 refused: over budget"


async def test_the_request_mocked_away(durable_env: Environment) -> None:
    durable_env.mock_activity(request_approval, returns={"by": "a mock"})
    assert await durable_env.run(approve_order, "o-3", "unused") == "order o-3 approved by a mock"


async def test_unanswered_requests_run_out_and_the_activity_gives_up(
    durable_env: Environment, tmp_path: Path
) -> None:
    outbox = str(tmp_path / "outbox.jsonl")
    handle = await durable_env.client.start(approve_order, "o-4", outbox)
    for sent in (1, 2, 3):  # each attempt's hour runs out; the next one asks again
        with anyio.fail_after(10):
            while len(pending_requests(outbox)) < sent:
                await anyio.sleep(0.01)
        await durable_env.advance(timedelta(hours=1, seconds=1))
    assert await handle.result(timeout=10) == "order o-4 refused: no answer to 3 requests"
    tokens = [request["token"] for request in pending_requests(outbox)]
    assert len(set(tokens)) == 3  # a new token per attempt
