"""samples/llm_queue.py with the testing kit: the small tenant is served in turn with the big
one, and the queue's limits hold on the virtual clock (its rate window moves with it)."""

from __future__ import annotations

import pytest

from durable.testing import Environment
from samples.llm_queue import app, in_flight, summarize, summarize_all

pytestmark = pytest.mark.durable_app(app)


async def test_tenants_take_turns_within_the_limits(durable_env: Environment) -> None:
    big = await durable_env.client.start(summarize_all, "big", 40, fairness_key="big")
    small = await durable_env.client.start(summarize_all, "small", 4, fairness_key="small")
    assert await durable_env.result(small) == 4
    assert await durable_env.result(big) == 40
    documents = [call.args[0] for call in durable_env.calls(summarize)]
    assert len(documents) == 44
    last_small = max(i for i, document in enumerate(documents) if document.startswith("small"))
    assert last_small < 12  # in turn with big's, not behind its 40
    assert in_flight["most"] <= 2
