"""samples/cpu_bound.py with the testing kit (which runs process activities in its worker's
threads, so that mocks and ``env.calls`` see them)."""

from __future__ import annotations

import pytest

from durable.testing import Call, Environment
from samples.cpu_bound import app, count_primes, primes_below, runaway, spin

pytestmark = pytest.mark.durable_app(app)


async def test_the_fan_out_adds_the_chunks(durable_env: Environment) -> None:
    assert await durable_env.run(primes_below, 1000, 4) == 168
    assert durable_env.calls(count_primes)[0] == Call((0, 250), {})


async def test_a_runaway_is_stopped(durable_env: Environment) -> None:
    durable_env.mock_activity(spin, raises=TimeoutError("killed"))  # never spin in a test thread
    assert await durable_env.run(runaway) == "stopped: TimeoutError"
