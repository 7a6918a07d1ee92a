"""Flow control and time in one process: the values checked where users hand them, delayed
starts that never run early, tags through the client and the CLI, schedules from the client,
the CLI and the testing kit, and the pure slot decisions (``durable._schedule``)."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

import durable
from durable._schedule import ScheduleDefinition, decide
from durable.testing import Environment

from .test_cli import acli, assert_one_line_error

app = durable.App()
app.queue("llm", concurrency=2, rate=(5, timedelta(seconds=1)))
ran_at: dict[str, float] = {}


@app.activity(queue="llm")
async def note(key: str) -> str:
    ran_at[key] = time.time()
    return key


@app.orchestrator
def noted(ctx: durable.OrchestrationContext, key: str) -> Any:
    return (yield ctx.call_activity(note, key))


@app.orchestrator
def ping(ctx: durable.OrchestrationContext) -> Any:
    return (yield ctx.call_activity(note, ctx.instance_id))


app.schedule(ping, every=timedelta(hours=1), catch_up="all")

# -- values checked where they are handed -------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"concurrency": 0}, "concurrency must be a positive int"),
        ({"concurrency": True}, "concurrency must be a positive int"),
        ({"rate": 5}, "rate must be a (count, period) tuple"),
        ({"rate": (0, 1)}, "rate count must be a positive int"),
        ({"rate": (5, -1)}, "rate period must be positive"),
    ],
)
def test_app_queue_checks_its_limits(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(durable.ConfigurationError, match=r"app\.queue") as caught:
        durable.App().queue("q", **kwargs)
    assert fragment in str(caught.value)


def test_a_queue_is_declared_once() -> None:
    other = durable.App()
    other.queue("q")
    with pytest.raises(durable.ConfigurationError, match="declared already"):
        other.queue("q", concurrency=1)


def test_with_options_checks_priority_and_fairness_key() -> None:
    with pytest.raises(durable.ConfigurationError, match="priority must be an int"):
        note.with_options(priority="high")  # type: ignore[arg-type]
    with pytest.raises(durable.ConfigurationError, match="fairness_key must be a non-empty"):
        note.with_options(fairness_key="")
    ref = note.with_options(priority=-3, fairness_key="tenant-1")
    assert (ref.options.priority, ref.options.fairness_key) == (-3, "tenant-1")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"cron": "0 * * * *", "every": 60}, "exactly one of cron= and every="),
        ({}, "exactly one of cron= and every="),
        ({"cron": "every day"}, "not a valid cron expression"),
        ({"every": 1.5}, "whole number of seconds"),
        ({"every": 60, "catch_up": "some"}, "use 'skip', 'one' or 'all'"),
        ({"every": 60, "args": "x"}, "args must be a list or tuple"),
        ({"every": 60, "instance_id_prefix": ""}, "instance_id_prefix must be a non-empty str"),
    ],
)
def test_app_schedule_checks_its_definition(kwargs: dict[str, Any], fragment: str) -> None:
    other = durable.App()
    other.orchestrator(ping.fn)
    with pytest.raises(durable.ConfigurationError) as caught:
        other.schedule("ping", **kwargs)
    assert fragment in str(caught.value)


def test_a_schedule_prefix_is_used_once() -> None:
    with pytest.raises(durable.ConfigurationError, match="used by another schedule"):
        app.schedule(ping, cron="0 * * * *")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"tags": {"k": 1}}, "tag 'k''s value must be a non-empty str"),
        ({"tags": ["k"]}, "tags must be a dict"),
        ({"tags": {"": "v"}}, "tag key"),
        ({"priority": 1.5}, "priority must be an int"),
        ({"fairness_key": 7}, "fairness_key must be a non-empty str"),
        ({"start_at": "tomorrow"}, "start_at must be a datetime"),
        ({"start_delay": -1}, "start_delay must be zero or positive"),
        ({"start_delay": 1, "start_at": datetime.now(UTC)}, "not both"),
    ],
)
async def test_start_checks_flow_options_before_writing(
    kwargs: dict[str, Any], fragment: str
) -> None:
    async with durable.Client("memory://", app=app) as client:
        with pytest.raises(durable.ConfigurationError) as caught:
            await client.start(noted, "x", instance_id="checked", **kwargs)
        assert fragment in str(caught.value)
        assert await client.list() == []


# -- delayed start and tags, with a worker ------------------------------------------------------


async def test_a_delayed_start_never_runs_early(store_url: str) -> None:
    async with (
        durable.Client(store_url, app=app) as client,
        durable.Worker(app, store_url, poll_interval=0.05),
    ):
        asked = time.time()
        delayed = await client.start(noted, "delayed", start_delay=timedelta(seconds=0.8))
        at = datetime.now(UTC) + timedelta(seconds=0.6)
        scheduled = await client.start(noted, "at", start_at=at)
        now = await client.start(noted, "now")
        assert await now.result(timeout=30) == "now"
        assert (await delayed.status()).status is durable.Status.PENDING
        assert await delayed.result(timeout=30) == "delayed"
        assert await scheduled.result(timeout=30) == "at"
    assert ran_at["delayed"] >= asked + 0.8
    assert ran_at["at"] >= at.timestamp()


async def test_tags_show_in_status_and_filter_the_list(store_url: str) -> None:
    async with durable.Client(store_url, app=app) as client:
        first = await client.start(noted, "a", tags={"customer": "c-1", "plan": "pro"})
        await client.start(noted, "b", tags={"customer": "c-2"})
        third = await client.start(noted, "c", tags={"customer": "c-1"})
        assert (await first.status()).tags == {"customer": "c-1", "plan": "pro"}
        listed = await client.list(tags={"customer": "c-1"})
        assert [s.instance_id for s in listed] == [third.instance_id, first.instance_id]
        assert [s.instance_id for s in await client.list(tags={"plan": "pro"})] == [
            first.instance_id
        ]
        result = await acli("list", "--store", store_url, "--tag", "customer=c-1", "--json")
        assert result.exit_code == 0, result.output
        shown = json.loads(result.stdout)
        assert [row["instance_id"] for row in shown] == [third.instance_id, first.instance_id]
        assert shown[1]["tags"] == {"customer": "c-1", "plan": "pro"}
    assert_one_line_error(await acli("list", "--store", store_url, "--tag", "nope"), "key=value")


one_at_a_time = durable.App()
one_at_a_time.queue("single", concurrency=1)
spans: list[tuple[float, float]] = []


@one_at_a_time.activity(queue="single")
async def hold(n: int) -> int:
    started = time.perf_counter()
    await anyio.sleep(0.02)
    spans.append((started, time.perf_counter()))
    return n


@one_at_a_time.orchestrator
def hold_all(ctx: durable.OrchestrationContext, count: int) -> Any:
    return sum((yield ctx.when_all([ctx.call_activity(hold, n) for n in range(count)])))


async def test_a_start_decided_in_process_claims_no_limited_attempt_eagerly(
    store_url: str,
) -> None:
    spans.clear()
    async with (
        durable.Worker(one_at_a_time, store_url, poll_interval=0.05),
        durable.Client(store_url, app=one_at_a_time) as client,
    ):
        handle = await client.start(hold_all, 8)  # decided by the worker, eagerly
        assert await handle.result(timeout=60) == 28
    assert len(spans) == 8
    ordered = sorted(spans)
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(ordered))


# -- schedules ------------------------------------------------------------------------------------


async def test_the_cli_lists_pauses_resumes_and_triggers_schedules(store_url: str) -> None:
    async with durable.Client(store_url, app=app) as client:
        async with durable.Worker(app, store_url, poll_interval=0.05):
            pass  # a worker records the app's schedules
        listed = await acli("schedule", "list", "--store", store_url, "--json")
        [shown] = json.loads(listed.stdout)
        assert (shown["schedule_id"], shown["name"], shown["every"]) == ("ping@", "ping", 3600.0)
        assert len(shown["next_runs"]) == 3 and not shown["paused"]
        table = await acli("schedule", "list", "--store", store_url)
        assert "ping@" in table.stdout and "every 3600 s" in table.stdout
        assert (await acli("schedule", "pause", "ping@", "--store", store_url)).exit_code == 0
        [paused] = await client.schedules()
        assert paused.paused and paused.next_runs == []
        assert (await acli("schedule", "resume", "ping@", "--store", store_url)).exit_code == 0
        assert not (await client.schedules())[0].paused
        triggered = await acli("schedule", "trigger", "ping@", "--store", store_url)
        instance_id = triggered.stdout.strip()
        assert instance_id.startswith("ping@") and "-trigger-" in instance_id
        assert (await client.get(instance_id).status()).status is durable.Status.PENDING
    missing = await acli("schedule", "pause", "nope@", "--store", store_url)
    assert_one_line_error(missing, "no schedule 'nope@'", "'ping@'")


async def test_the_testing_kit_runs_each_slot_on_the_virtual_clock() -> None:
    start = datetime(2024, 1, 1, 0, 30, tzinfo=UTC)
    async with Environment(app, start=start) as env:
        await env.advance(timedelta(hours=3))
        started = sorted(s.instance_id for s in await env.client.list(name="ping"))
    assert started == [f"ping@2024-01-01T0{hour}:00:00Z" for hour in (1, 2, 3)]


def every(seconds: float, catch_up: str = "one") -> ScheduleDefinition:
    return ScheduleDefinition("s@", "orch", "[]", every=seconds, catch_up=catch_up)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("catch_up", "now", "started"),
    [
        ("one", 100.2, [100]),  # on time
        ("skip", 100.2, [100]),
        ("one", 103.2, [102, 103]),  # 101, 102 missed: the newest of them, and 103 on time
        ("skip", 103.2, [103]),
        ("all", 103.2, [101, 102, 103]),
        ("one", 103.9, [103]),  # every slot late: 103 is the newest missed one
        ("all", 103.9, [101, 102, 103]),
    ],
)
def test_decide_starts_on_time_slots_and_catches_up_by_policy(
    catch_up: str, now: float, started: list[int]
) -> None:
    decision = decide(every(1, catch_up), 100 if now > 101 else 99, now)
    assert decision is not None
    assert decision.start == started
    assert decision.last_slot == int(now)


def test_decide_waits_for_the_next_slot() -> None:
    assert decide(every(60), 120, 179.9) is None


def test_cron_slots_and_ids() -> None:
    nightly = ScheduleDefinition("r@", "orch", "[]", cron="0 2 * * *")
    monday = datetime(2024, 6, 3, 12, 0, tzinfo=UTC).timestamp()
    runs = nightly.next_slots(monday, 2)
    assert [run.isoformat() for run in runs] == [
        "2024-06-04T02:00:00+00:00",
        "2024-06-05T02:00:00+00:00",
    ]
    slot = int(runs[0].timestamp())
    assert nightly.slots_after(monday, slot + 86400, 10) == [slot, slot + 86400]
    assert nightly.instance_id(slot) == "r@2024-06-04T02:00:00Z"
    assert ScheduleDefinition.from_json(nightly.to_json()) == nightly


async def test_many_workers_start_a_slot_once() -> None:
    async with durable.Client("memory://slots", app=app) as client:
        store = client.store
        await store.put_schedule("ping@", app.schedules["ping@"].to_json())
        [state] = (await store.get_schedules()).schedules
        definition = app.schedules["ping@"]
        results: list[bool] = []

        async def look() -> None:
            decision = decide(definition, state.last_slot, state.last_slot + 3600.1)
            assert decision is not None
            if await store.advance_schedule("ping@", state.last_slot, decision.last_slot):
                results.append(True)

        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(look)
        assert results == [True]
