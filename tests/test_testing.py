"""The testing kit (``durable.testing.Environment``): virtual time, mocks, calls.

Every test here runs an app in an ``Environment``: memory store, in-process worker, virtual
clock. Wall times are measured where the issue sets a bound.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import tenacity

import durable
from durable.testing import Call, Environment

app = durable.App()
FAST = durable.RetryPolicy(
    max_attempts=3, initial_interval=timedelta(hours=1), max_interval=timedelta(days=1), jitter=0
)


@app.activity
async def charge(order_id: str, cents: int) -> str:
    return f"receipt-{order_id}-{cents}"


@app.activity
def pack(item: int) -> str:  # sync: runs in a thread
    return f"box-{item}"


@app.activity(retry=FAST)
async def flaky(n: int) -> int:
    raise RuntimeError("down")


@app.orchestrator
def month(ctx: durable.OrchestrationContext, order_id: str) -> Generator[Any, Any, Any]:
    receipt = yield ctx.call_activity(charge, order_id, 500)
    yield ctx.sleep(timedelta(days=30))
    try:
        approved = yield ctx.wait_for_event("approved", timeout=timedelta(days=2))
    except durable.TaskTimeout:
        approved = None
    finished = yield ctx.now()
    return {"receipt": receipt, "approved": approved, "at": finished}


@app.orchestrator
def ship(ctx: durable.OrchestrationContext, order_id: str) -> Generator[Any, Any, str]:
    box = yield ctx.call_activity(pack, 1)
    return f"tracking-{order_id}-{box}"


@app.orchestrator
def order(ctx: durable.OrchestrationContext, order_id: str) -> Generator[Any, Any, Any]:
    receipt = yield ctx.call_activity(charge, order_id, 100)
    try:
        tracking = yield ctx.call_sub_orchestrator(ship, order_id)
    except durable.OrchestrationFailed as exc:
        tracking = f"failed: {exc.message}"
    return [receipt, tracking]


@app.orchestrator
def retried(ctx: durable.OrchestrationContext) -> Generator[Any, Any, Any]:
    started = yield ctx.now()
    try:
        yield ctx.call_activity(flaky, 1)
    except durable.ActivityFailed as exc:
        ended = yield ctx.now()
        return [exc.attempts, (ended - started).total_seconds()]
    return None


@app.orchestrator
def retried_child(ctx: durable.OrchestrationContext) -> Generator[Any, Any, Any]:
    hourly = durable.RetryPolicy(
        max_attempts=2,
        initial_interval=timedelta(hours=1),
        max_interval=timedelta(days=1),
        jitter=0,
    )
    started = yield ctx.now()
    tracking = yield ctx.call_sub_orchestrator(ship, "o-r", retry=hourly)
    ended = yield ctx.now()
    return [tracking, (ended - started).total_seconds()]


async def test_a_retried_sub_orchestration_waits_on_the_virtual_clock() -> None:
    jammed = RuntimeError("jammed")
    outcomes = iter([jammed, jammed, jammed, "box-9"])  # the child's first run fails

    def pack_once(item: int) -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async with Environment(app) as env:
        env.mock_activity(pack, side_effect=pack_once)
        tracking, waited = await env.run(retried_child)
    assert tracking == "tracking-o-r-box-9"
    assert waited >= 3600  # the child's second run started an hour later, in virtual time


async def test_a_30_day_sleep_and_a_2_day_timeout_take_under_a_second() -> None:
    begun = time.perf_counter()
    async with Environment(app, start=datetime(2030, 1, 1, tzinfo=UTC)) as env:
        result = await env.run(month, "o-1")
        assert result == {
            "receipt": "receipt-o-1-500",
            "approved": None,
            "at": "2030-02-02T00:00:00+00:00",  # 30 days, then the 2-day timeout
        }
        assert env.now() == datetime(2030, 2, 2, tzinfo=UTC)
    assert time.perf_counter() - begun < 1.0


async def test_an_event_raised_before_the_timeout_wins() -> None:
    async with Environment(app) as env:
        handle = await env.client.start(month, "o-2")
        await env.advance(timedelta(days=30))  # the sleep is over; the wait has begun
        await handle.raise_event("approved", True)
        assert (await handle.result(timeout=10))["approved"] is True


async def test_without_auto_skip_only_advance_moves_time() -> None:
    async with Environment(app, auto_skip=False) as env:
        start = env.now()
        handle = await env.client.start(month, "o-3")
        await env.settle()
        assert (await handle.status()).status is durable.Status.RUNNING
        assert env.now() == start
        await env.advance(timedelta(days=29))
        assert (await handle.status()).status is durable.Status.RUNNING
        await env.advance(timedelta(days=3))
        assert (await handle.status()).status is durable.Status.COMPLETED
        assert (await handle.result())["at"] == (start + timedelta(days=32)).isoformat()
        with pytest.raises(durable.ConfigurationError, match="does not go back"):
            await env.advance(-1)


async def test_retry_backoffs_run_on_the_virtual_clock() -> None:
    async with Environment(app) as env:
        attempts, waited = await env.run(retried)
    # 3 attempts, backing off 1 h then 2 h of virtual time
    assert attempts == 3 and waited == 3 * 3600
    assert len(env.calls(flaky)) == 3


async def test_mock_an_activity_by_function_or_name() -> None:
    async with Environment(app) as env:
        env.mock_activity(charge, returns="fake-receipt")
        env.mock_activity("pack", side_effect=lambda item: f"fake-box-{item}")
        assert await env.run(order, "o-4") == ["fake-receipt", "tracking-o-4-fake-box-1"]
        assert env.calls(charge) == [Call(("o-4", 100), {})]
        assert env.calls("pack") == [Call((1,), {})]


async def test_a_mocked_activity_raises_and_the_policy_still_applies() -> None:
    async with Environment(app) as env:
        env.mock_activity(flaky, raises=ValueError("nope"))
        attempts, _ = await env.run(retried)
    assert attempts == 3


async def test_an_async_side_effect_is_awaited() -> None:
    async def fake(order_id: str, cents: int) -> str:
        return f"async-{order_id}"

    async with Environment(app) as env:
        env.mock_activity(charge, side_effect=fake)
        assert (await env.run(order, "o-5"))[0] == "async-o-5"


async def test_mock_a_sub_orchestrator() -> None:
    async with Environment(app) as env:
        env.mock_sub_orchestrator(ship, returns="tracking-fake")
        assert await env.run(order, "o-6") == ["receipt-o-6-100", "tracking-fake"]
        assert env.calls(ship) == [Call(("o-6",), {})]
        env.mock_sub_orchestrator("ship", raises=RuntimeError("no carrier"))
        assert (await env.run(order, "o-7"))[1] == "failed: no carrier"


async def test_an_app_that_registers_a_fake_under_the_name_runs_it() -> None:
    """References resolve by registered name: production code is pointed at a fake."""
    fakes = durable.App()
    fakes.orchestrator(order.fn)
    fakes.orchestrator(ship.fn)

    @fakes.activity(name="charge")
    async def fake_charge(order_id: str, cents: int) -> str:
        return "from-the-fake"

    @fakes.activity(name="pack")
    def fake_pack(item: int) -> str:
        return "fake-box"

    async with Environment(fakes) as env:
        assert await env.run(order, "o-8") == ["from-the-fake", "tracking-o-8-fake-box"]
        assert env.calls(charge) == [Call(("o-8", 100), {})]


async def test_mocks_are_checked_and_leave_the_app_alone() -> None:
    async with Environment(app) as env:
        with pytest.raises(durable.ConfigurationError, match="unknown activity"):
            env.mock_activity("refund", returns=1)
        with pytest.raises(durable.ConfigurationError, match="one of"):
            env.mock_activity(charge, returns=1, raises=ValueError)
        with pytest.raises(durable.ConfigurationError, match="only mocked orchestrators"):
            env.calls(ship)
        with pytest.raises(durable.ConfigurationError, match="unknown activity 'refund'"):
            env.calls("refund")
        env.mock_activity(charge, returns="x")
    assert app.activities["charge"].fn is charge.fn


async def test_the_generator_cache_off_gives_the_same_results() -> None:
    async with Environment(app, cache_size=0) as env:
        assert await env.run(order, "o-9") == ["receipt-o-9-100", "tracking-o-9-box-1"]
        assert env.replays > 0


def test_environment_wants_an_app() -> None:
    with pytest.raises(durable.ConfigurationError, match=r"durable\.App"):
        Environment("app")  # type: ignore[arg-type]


async def test_a_held_instance_fails_the_run_at_once() -> None:
    """Code that does not replay its own history (here: a different effect on every run, with
    the cache off) is held by the worker; the test fails with the error, it does not hang."""
    flaky_app = durable.App()
    runs = iter(range(1000))

    @flaky_app.activity
    async def step(n: int) -> int:
        return n

    @flaky_app.orchestrator
    def changing(ctx: durable.OrchestrationContext) -> Generator[Any, Any, Any]:
        if next(runs) == 0:  # not deterministic: the replay yields a timer instead
            yield ctx.call_activity(step, 1)
        else:
            yield ctx.sleep(timedelta(seconds=1))
        return "done"

    begun = time.perf_counter()
    async with Environment(flaky_app, cache_size=0) as env:
        with pytest.raises(durable.DurableError, match=r"held by the worker.*NonDeterminismError"):
            await env.run(changing)
    assert time.perf_counter() - begun < 5


async def test_two_environments_at_once_keep_to_their_own_mocks() -> None:
    async with Environment(app) as first, Environment(app) as second:
        first.mock_activity(charge, returns="first")
        second.mock_activity(charge, returns="second")
        begun = time.perf_counter()
        assert (await second.run(order, "o-b"))[0] == "second"
        assert (await first.run(order, "o-a"))[0] == "first"
        assert time.perf_counter() - begun < 5
        assert [c.args[0] for c in first.calls(charge)] == ["o-a"]


budgeted = durable.App()


@budgeted.activity(
    retry=durable.RetryPolicy.from_tenacity(
        stop=tenacity.stop_after_delay(5 * 3600), wait=tenacity.wait_fixed(3600)
    )
)
async def never_works() -> None:
    raise ConnectionError("down")


@budgeted.orchestrator
def within_budget(ctx: durable.OrchestrationContext) -> Generator[Any, Any, str]:
    try:
        yield ctx.call_activity(never_works)
    except durable.ActivityFailed as failure:
        return failure.message
    return "worked"


async def test_a_retry_budget_of_time_runs_out_on_the_virtual_clock() -> None:
    # stop_after_delay is measured on the store's clock, here the virtual one: hourly attempts
    # for 5 hours of virtual time, then the policy gives up (in milliseconds of wall time)
    async with Environment(budgeted) as env:
        assert await env.run(within_budget) == "down"
    assert 5 <= len(env.calls(never_works)) <= 7
