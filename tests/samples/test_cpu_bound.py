"""samples/cpu_bound.py with the testing kit (which runs process activities in its worker's
threads, so that mocks and ``env.calls`` see them)."""

from __future__ import annotations

import pytest

from durable.testing import Call, Environment
from samples.cpu_bound import app, count_primes, primes_below, runaway, spin

pytestmark = pytest.mark.durable_app(app)


async def test_the_fan_out_adds_the_chunks(durable_env: Environment) -> None:
    assert await durable_env.run(primes_below, 1000, 4) == 168
    # the chunks run at once, so the order their calls start in is the threads' (any order)
    calls = durable_env.calls(count_primes)
    assert sorted(calls, key=lambda call: call.args) == [
        Call((start, start + 250), {}) for start in range(0, 1000, 250)
    ]


async def test_a_runaway_is_stopped(durable_env: Environment) -> None:
    durable_env.mock_activity(spin, raises=TimeoutError("killed"))  # never spin in a test thread
    assert await durable_env.run(runaway) == "stopped: TimeoutError"
