"""A nightly report: a schedule starts one instance per night, however many workers run.

``app.schedule(nightly_report, cron="0 2 * * *", args=["sales"])`` starts ``nightly_report``
at 02:00 UTC every night; the instance id is the prefix and the night's slot, so two workers
can never start one night twice. After downtime, ``catch_up="one"`` starts the newest missed
night only. In production, run workers with ``durable worker samples.nightly_report:app``; this
program runs a week of nights in a moment on the testing kit's virtual clock, then shows the
client's view: the schedule's next runs, a pause, and a run triggered by hand.
Run it with ``python samples/nightly_report.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

import durable
from durable.testing import Environment

app = durable.App()


@app.activity
async def total_sales(day: str) -> int:
    return 1000 + 10 * int(day[-2:])  # stands for a query of the day's orders


@app.activity
async def send_report(team: str, day: str, total: int) -> str:
    return f"{team} report for {day}: {total}"


@app.orchestrator
def nightly_report(
    ctx: durable.OrchestrationContext, team: str
) -> Generator[durable.Task[Any], Any, str]:
    now = yield ctx.now()
    day = (now - timedelta(days=1)).strftime("%Y-%m-%d")  # the day that just ended
    total = yield ctx.call_activity(total_sales, day)
    sent = yield ctx.call_activity(send_report, team, day, total)
    return sent


app.schedule(nightly_report, cron="0 2 * * *", args=["sales"], instance_id_prefix="report-sales@")


async def main() -> None:
    monday = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
    async with Environment(app, start=monday) as env:
        await env.advance(timedelta(days=3))  # three nights pass
        for status in reversed(await env.client.list(name="nightly_report")):
            print(f"{status.instance_id}: {status.output}")
        [schedule] = await env.client.schedules()
        print(f"next runs: {[run.strftime('%a %H:%M') for run in schedule.next_runs]}")
        await env.client.pause_schedule("report-sales@")
        await env.advance(timedelta(days=1))  # paused: this night starts nothing
        await env.client.resume_schedule("report-sales@")
        handle = await env.client.trigger_schedule("report-sales@")  # one run now, by hand
        print(f"triggered: {await env.result(handle)}")
        print(f"reports: {len(await env.client.list(name='nightly_report'))}")


if __name__ == "__main__":
    logging.getLogger("durable").setLevel(logging.CRITICAL)  # this program prints its own story
    anyio.run(main)
