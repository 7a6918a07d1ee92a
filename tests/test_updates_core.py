"""The interpreter's side of updates and streams, without a store: every episode is checked
against a fresh replay (``interpreter_kit.Driver``)."""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import pytest

from durable import _actions as act
from durable import _events as ev
from durable._core.registry import App
from durable._errors import ConfigurationError, DurableError
from durable._status import Status
from tests.interpreter_kit import Driver, fired, of_type, raised

app = App()


def update(update_id: str, name: str, arg: Any = None) -> ev.UpdateRequested:
    return ev.UpdateRequested(update_id=update_id, name=name, arg=json.dumps(arg))


@app.orchestrator
def adder(ctx: Any, rounds: int) -> Generator[Any, Any, Any]:
    total = 0
    for _ in range(rounds):
        req = yield ctx.wait_for_update("add")
        ctx.write_stream("log", f"{req.id}:{req.arg}")
        if req.arg < 0:
            ctx.reject(req, "negative")
            continue
        total += req.arg
        ctx.respond(req, total)
    return total


@app.orchestrator
def events_then_updates(ctx: Any, run: int) -> Generator[Any, Any, Any]:
    if run == 1:
        yield ctx.sleep(10)
        return ctx.continue_as_new(2)
    first = yield ctx.wait_for_update("u")
    event = yield ctx.wait_for_event("e")
    second = yield ctx.wait_for_update("u")
    ctx.respond(first, None)
    ctx.respond(second, None)
    return [first.arg, event, second.arg]


@app.orchestrator
def twice(ctx: Any) -> Generator[Any, Any, Any]:
    req = yield ctx.wait_for_update("u")
    ctx.respond(req, 1)
    try:
        ctx.reject(req, "again")
    except DurableError as exc:
        return str(exc)
    return "answered twice"


@app.orchestrator
def not_a_request(ctx: Any) -> Generator[Any, Any, Any]:
    yield ctx.sleep(1)
    ctx.respond({"id": "x"}, 1)


def test_updates_are_taken_fifo_and_answers_and_stream_values_are_actions() -> None:
    d = Driver(app, adder, 3)
    episode = d.apply(update("u1", "add", 2), update("u2", "add", -1), update("u3", "add", 5))
    answers = of_type(episode.actions, act.RespondUpdate)
    assert [(a.update_id, a.result, a.rejection) for a in answers] == [
        ("u1", "2", None),
        ("u2", None, "negative"),
        ("u3", "7", None),
    ]
    writes = of_type(episode.actions, act.WriteStream)
    assert [w.value for w in writes] == ['"u1:2"', '"u2:-1"', '"u3:5"']
    assert d.status is Status.COMPLETED and d.result() == 7
    assert len(d.events_of(ev.StreamWritten)) == 3
    replayed = d.replay()  # a replay confirms the recorded answers and writes, emits nothing
    replayed.close()


def test_updates_wait_buffered_and_cross_continue_as_new_in_arrival_order() -> None:
    d = Driver(app, events_then_updates, 1)
    d.apply(update("a", "u", 1), raised("e", "E"), update("b", "u", 2))
    episode = d.apply(fired(0))
    [cont] = of_type(episode.actions, act.ContinueAsNew)
    assert [m.kind for m in cont.carryover] == ["UpdateRequested", "EventRaised", "UpdateRequested"]
    # the next run opens with the carried messages, as the store writes them
    d2 = Driver(app, events_then_updates, 2)
    d2.apply(*cont.carryover)
    assert d2.status is Status.COMPLETED and d2.result() == [1, "E", 2]


def test_an_update_is_answered_once_and_only_a_request_is_answered() -> None:
    d = Driver(app, twice)
    d.apply(update("u1", "u"))
    assert d.result() == "reject: update 'u' (u1) was answered already"
    d = Driver(app, not_a_request)
    d.apply(fired(0))
    assert d.status is Status.FAILED
    assert d.live.error is not None and d.live.error.error_type.endswith("ConfigurationError")


def test_names_are_checked_where_given() -> None:
    @app.orchestrator(name="bad_names")
    def bad_names(ctx: Any, which: str) -> Generator[Any, Any, Any]:
        if which == "wait":
            yield ctx.wait_for_update("")
        ctx.write_stream("", 1)
        yield ctx.sleep(1)

    for which in ("wait", "stream"):
        d = Driver(app, bad_names, which)
        assert d.status is Status.FAILED
        assert d.live.error is not None
        assert d.live.error.error_type == f"durable.{ConfigurationError.__name__}"


@pytest.mark.parametrize("value", [float("nan"), object()])
def test_a_value_that_cannot_be_stored_fails_at_the_write(value: Any) -> None:
    @app.orchestrator(name=f"unstorable_{type(value).__name__}")
    def unstorable(ctx: Any) -> Generator[Any, Any, Any]:
        ctx.write_stream("k", value)
        yield ctx.sleep(1)

    d = Driver(app, unstorable)
    assert d.status is Status.FAILED
    assert d.live.error is not None and "write_stream('k').value" in d.live.error.message
