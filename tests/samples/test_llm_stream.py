"""samples/llm_stream.py with the testing kit: the tokens arrive in order, once, and end."""

from __future__ import annotations

import pytest

from durable.testing import Environment
from samples.llm_stream import answer, app

pytestmark = pytest.mark.durable_app(app)


async def test_the_client_reads_every_token_in_order(durable_env: Environment) -> None:
    handle = await durable_env.client.start(answer, "hi")
    tokens = [token async for token in handle.read_stream("tokens")]
    assert " ".join(tokens) == "Durable streams carry each token of the answer to 'hi' in order"
    assert await handle.result(timeout=10) == len(tokens)
    assert [step async for step in handle.read_stream("progress")] == ["generating", "done"]


async def test_a_reader_can_resume_from_an_offset(durable_env: Environment) -> None:
    handle = await durable_env.client.start(answer, "hi")
    await handle.result(timeout=10)
    pairs = [pair async for pair in handle.read_stream("tokens", start=10, with_offsets=True)]
    assert pairs == [(10, "in"), (11, "order")]
