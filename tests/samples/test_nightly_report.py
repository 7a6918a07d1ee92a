"""samples/nightly_report.py with the testing kit: one report per night on the virtual clock,
none while paused, one more when triggered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from durable.testing import Environment
from samples.nightly_report import app

pytestmark = pytest.mark.durable_app(app)


async def test_one_report_per_night_none_while_paused(durable_env: Environment) -> None:
    await durable_env.advance(timedelta(days=2))
    reports = await durable_env.client.list(name="nightly_report")
    assert len(reports) == 2
    assert {status.instance_id.split("@")[0] for status in reports} == {"report-sales"}
    await durable_env.client.pause_schedule("report-sales@")
    await durable_env.advance(timedelta(days=2))
    assert len(await durable_env.client.list(name="nightly_report")) == 2
    [schedule] = await durable_env.client.schedules()
    assert schedule.paused and schedule.next_runs == []
    await durable_env.client.resume_schedule("report-sales@")
    handle = await durable_env.client.trigger_schedule("report-sales@")
    assert str(await durable_env.result(handle)).startswith("sales report for ")
