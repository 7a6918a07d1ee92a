"""samples/human_approval.py with the testing kit: answers, timeouts and the escalation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from durable.testing import Call, Environment
from samples.human_approval import app, approve_expense, escalate, notify

DAY = 86400.0
pytestmark = pytest.mark.durable_app(app)


async def test_the_manager_approves(durable_env: Environment) -> None:
    handle = await durable_env.client.start(approve_expense, 1200, DAY)
    await handle.raise_event("decision", {"approved": True})
    assert await handle.result(timeout=10) == "approved"


async def test_no_answer_in_a_day_rejects(durable_env: Environment) -> None:
    assert await durable_env.run(approve_expense, 1200, DAY) == "rejected: no answer in time"


async def test_a_late_manager_is_escalated_to_the_director(durable_env: Environment) -> None:
    handle = await durable_env.client.start(escalate, 900, DAY)
    await durable_env.advance(timedelta(days=1, seconds=1))
    assert (await handle.status()).custom_status == "waiting for the director"
    assert durable_env.calls(notify)[-1] == Call(
        ("director", "the manager did not answer about 900 cents"), {}
    )
    await handle.raise_event("decision", {"approved": False})
    assert await handle.result(timeout=10) == "director said False"
