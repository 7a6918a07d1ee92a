"""samples/monitor.py with the testing kit: polls with continue-as-new, on virtual time."""

from __future__ import annotations

import pytest

from durable.testing import Environment
from samples.monitor import app, job_state, watch_job

pytestmark = pytest.mark.durable_app(app)


async def test_the_job_is_done_on_the_third_check(durable_env: Environment) -> None:
    states = iter(["running", "running", "done"])
    durable_env.mock_activity(job_state, side_effect=lambda job_id: next(states))
    start = durable_env.now()
    assert await durable_env.run(watch_job, "build-1", 5) == "build-1 done after 3 checks"
    assert (durable_env.now() - start).total_seconds() == pytest.approx(0.4)  # 2 timers


async def test_it_gives_up(durable_env: Environment) -> None:
    durable_env.mock_activity(job_state, returns="running")
    assert await durable_env.run(watch_job, "build-2", 3) == (
        "build-2 still running after 3 checks: gave up"
    )
