"""Tests of durable._core.registry: registration, the checks made then, lookups and options."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from durable._actions import ActivityOptions
from durable._core.determinism import DeterminismWarning
from durable._core.registry import (
    Activity,
    ActivityRef,
    App,
    Orchestrator,
    orchestrator_return_hint,
)
from durable._errors import ConfigurationError
from durable._retry import RetryPolicy

HERE = str(Path(__file__))


def flow(ctx: Any) -> Generator[Any, Any, int]:
    yield ctx.call_activity("a")
    return 1


def double(x: int) -> int:
    return 2 * x


async def fetch(url: str) -> str:
    return url


# -- orchestrators ---------------------------------------------------------------------------------


def test_an_orchestrator_is_registered_under_its_name_and_stays_callable() -> None:
    app = App()
    registered = app.orchestrator(flow)
    assert isinstance(registered, Orchestrator)
    assert registered.name == "flow" and registered.fn is flow
    assert app.orchestrators == {"flow": registered}
    assert registered.__name__ == "flow" and repr(registered) == "<orchestrator 'flow'>"
    assert registered.return_hint is int
    gen = registered(None)
    assert isinstance(gen, Generator)
    gen.close()


def test_name_overrides_the_function_name() -> None:
    app = App()
    registered = app.orchestrator(name="checkout-v2")(flow)
    assert registered.name == "checkout-v2"
    assert app.resolve_orchestrator("checkout-v2") is registered
    assert app.resolve_orchestrator(registered) is registered
    assert app.resolve_orchestrator(flow) is registered


def test_a_plain_function_is_not_an_orchestrator() -> None:
    def plain(ctx: Any) -> int:
        return 1

    with pytest.raises(ConfigurationError) as info:
        App().orchestrator(plain)
    text = str(info.value)
    assert "is not a generator" in text and "plain" in text and HERE in text


def test_an_async_function_is_not_an_orchestrator() -> None:
    async def coro(ctx: Any) -> int:
        return 1

    with pytest.raises(ConfigurationError, match=r"is an async function.*never async def"):
        App().orchestrator(coro)


def test_a_nondeterministic_call_warns_at_registration() -> None:
    def clocked(ctx: Any) -> Generator[Any, Any, float]:
        started = time.time()
        yield ctx.call_activity("a")
        return started

    with pytest.warns(DeterminismWarning, match=r"orchestrator 'clocked' calls time\.time\(\)"):
        App().orchestrator(clocked)


# -- names -----------------------------------------------------------------------------------------


def test_a_duplicate_name_is_refused_naming_both_functions() -> None:
    app = App()
    app.orchestrator(flow)

    def other(ctx: Any) -> Generator[Any, Any, None]:
        yield None

    with pytest.raises(ConfigurationError) as info:
        app.orchestrator(name="flow")(other)
    text = str(info.value)
    assert "the name 'flow' is already registered as orchestrator" in text
    assert "other" in text and "flow (" in text and "pass name=" in text


def test_an_activity_may_not_take_an_orchestrators_name_nor_the_reverse() -> None:
    app = App()
    app.orchestrator(flow)
    with pytest.raises(ConfigurationError, match="already registered as orchestrator"):
        app.activity(name="flow")(double)
    app.activity(double)
    with pytest.raises(ConfigurationError, match="already registered as activity"):
        app.orchestrator(name="double")(flow)


@pytest.mark.parametrize("name", ["", "   ", 7])
def test_a_name_must_be_a_non_empty_string(name: Any) -> None:
    with pytest.raises(ConfigurationError, match="name must be a non-empty str"):
        App().activity(name=name)(double)


# -- activities ------------------------------------------------------------------------------------


def test_an_activity_stays_a_plain_callable_sync_and_async() -> None:
    app = App()
    sync, coro = app.activity(double), app.activity(fetch)
    assert isinstance(sync, Activity) and isinstance(coro, Activity)
    assert sync(21) == 42
    assert asyncio.run(coro("https://example.test")) == "https://example.test"
    assert sync.__name__ == "double" and sync.__doc__ == double.__doc__
    assert repr(sync) == "<activity 'double'>"
    assert app.resolve_activity(sync) == ("double", double, ActivityOptions())
    assert app.resolve_activity("fetch")[1] is fetch
    assert app.resolve_activity(double)[0] == "double"
    assert app.activity_return_hint("double") is int


def test_registration_options_become_the_defaults() -> None:
    app = App()
    policy = RetryPolicy(max_attempts=2)
    registered = app.activity(
        name="dbl",
        retry=policy,
        timeout=timedelta(seconds=30),
        queue="gpu",
        schedule_to_start_timeout=5,
        heartbeat_timeout=1.5,
    )(double)
    assert registered.name == "dbl"
    assert registered.options == ActivityOptions(
        queue="gpu",
        retry=policy,
        timeout=30.0,
        schedule_to_start_timeout=5.0,
        heartbeat_timeout=1.5,
    )


def test_with_options_overrides_some_options_for_the_calls_that_use_it() -> None:
    app = App()
    registered = app.activity(queue="cpu", timeout=10)(double)
    ref = registered.with_options(queue="gpu", heartbeat_timeout=timedelta(minutes=1))
    assert isinstance(ref, ActivityRef) and ref.name == "double" and ref.activity is registered
    assert ref.options == ActivityOptions(queue="gpu", timeout=10.0, heartbeat_timeout=60.0)
    assert registered.options == ActivityOptions(queue="cpu", timeout=10.0)
    assert app.resolve_activity(ref) == ("double", double, ref.options)
    assert registered.with_options(timeout=None).options.timeout is None


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"timeout": -1}, "timeout=-1 must be positive"),
        ({"timeout": timedelta(0)}, "must be positive"),
        ({"heartbeat_timeout": "1s"}, "heartbeat_timeout='1s' is not a duration"),
        ({"schedule_to_start_timeout": True}, "is not a duration"),
        ({"queue": ""}, "queue must be a non-empty str"),
        ({"retry": 3}, "retry must be a RetryPolicy, got 3"),
    ],
)
def test_bad_options_name_the_activity_and_the_option(options: dict[str, Any], words: str) -> None:
    app = App()
    registered = app.activity(double)
    with pytest.raises(ConfigurationError) as info:
        registered.with_options(**options)
    assert "activity 'double'" in str(info.value) and words in str(info.value)
    with pytest.raises(ConfigurationError, match="activity 'other'"):
        app.activity(name="other", **options)(double)


def test_a_generator_is_not_an_activity() -> None:
    async def agen() -> Any:
        yield 1

    for fn in (flow, agen):
        with pytest.raises(
            ConfigurationError, match=r"is a generator.*did you mean @app\.orchestrator"
        ):
            App().activity(fn)


def test_an_activity_must_be_callable() -> None:
    with pytest.raises(ConfigurationError, match="needs a function, got 42"):
        App().activity(42)


# -- lookups ---------------------------------------------------------------------------------------


def test_an_unknown_name_lists_the_registered_ones() -> None:
    app = App()
    app.activity(double)
    app.activity(fetch)
    with pytest.raises(ConfigurationError) as info:
        app.resolve_activity("tripple")
    text = str(info.value)
    assert "unknown activity 'tripple'" in text
    assert "registered activities: double, fetch" in text and "@app.activity" in text
    with pytest.raises(ConfigurationError, match="registered orchestrators: none"):
        app.resolve_orchestrator("flow")


def test_an_unregistered_function_is_unknown_and_named_with_its_place() -> None:
    with pytest.raises(ConfigurationError) as info:
        App().resolve_activity(double)
    assert "unknown activity 'double (" in str(info.value) and HERE in str(info.value)


def test_an_activity_of_another_app_is_refused() -> None:
    mine, theirs = App(), App()
    mine.activity(double)
    foreign = theirs.activity(double)
    with pytest.raises(ConfigurationError, match="unknown activity"):
        mine.resolve_activity(foreign)
    with pytest.raises(ConfigurationError, match="registered with another App"):
        mine.resolve_activity(foreign.with_options(queue="q"))
    other_flow = theirs.orchestrator(flow)
    App().orchestrator(flow)
    with pytest.raises(ConfigurationError, match="unknown orchestrator"):
        mine.resolve_orchestrator(other_flow)


class Callable_:
    def __call__(self, x: int) -> int:
        return x


def test_a_callable_object_can_be_an_activity_and_is_described_by_repr() -> None:
    app = App()
    obj = Callable_()
    with pytest.raises(ConfigurationError, match="name must be a non-empty str, got None"):
        app.activity(obj)  # no __name__: it needs name=
    registered = app.activity(name="obj")(obj)
    assert registered(3) == 3
    with pytest.raises(ConfigurationError, match="already registered as activity"):
        app.activity(name="obj")(obj)


# -- return hints ----------------------------------------------------------------------------------


def gen_hint(ctx: Any) -> Generator[Any, Any, str]:
    yield None
    return ""


def iter_hint(ctx: Any) -> Iterator[Any]:
    yield None


def plain_hint(ctx: Any) -> dict[str, int]:  # not a generator function: annotation only
    return {}


def bare(ctx: Any):  # type: ignore[no-untyped-def]
    yield None


@pytest.mark.parametrize(
    ("fn", "hint"),
    [(gen_hint, str), (iter_hint, Any), (plain_hint, dict[str, int]), (bare, Any), (None, Any)],
)
def test_the_return_hint_of_an_orchestrator(fn: Any, hint: Any) -> None:
    assert orchestrator_return_hint(fn) == hint
