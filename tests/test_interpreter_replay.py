"""Tests of the interpreter's replay: non-determinism, patches, corrupt histories, closing.

Histories are recorded with one version of an orchestrator (through the kit's ``Driver``) and
replayed with another registered under the same name, as after a deploy.
"""

from __future__ import annotations

import gc
import logging
import warnings
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from durable import _actions as act
from durable import _events as ev
from durable._core.interpreter import Orchestration
from durable._core.registry import App
from durable._errors import HistoryCorrupted, NonDeterminismError
from durable._status import Status
from tests.interpreter_kit import T0, Driver, done, fired, kinds, of_type, raised, started

Gen = Generator[Any, Any, Any]
HERE = str(Path(__file__))


def line_of(marker: str) -> int:
    """The line number in this file of the line ending with ``# <marker>``."""
    for number, line in enumerate(Path(HERE).read_text().splitlines(), start=1):
        if line.rstrip().endswith(f"# {marker}"):
            return number
    raise AssertionError(marker)


def echo(x: Any = None) -> Any:
    return x


def make_app(flow: Callable[..., Gen]) -> App:
    """An app with activities a, b, c, x and ``flow`` registered as orchestrator "flow"."""
    app = App()
    for name in ("a", "b", "c", "x"):
        app.activity(name=name)(echo)
    app.orchestrator(name="flow")(flow)
    return app


def v1(ctx: Any) -> Gen:
    yield ctx.call_activity("a")
    yield ctx.call_activity("b")
    yield ctx.call_activity("c")
    return "v1"


def v1_history() -> list[ev.HistoryEvent]:
    """Started, a, b done; c scheduled (seq 5, task 2) and waiting."""
    d = Driver(make_app(v1), "flow")
    d.apply(done(0))
    d.apply(done(1))
    return d.history


# -- non-determinism ------------------------------------------------------------------------------


def renamed(ctx: Any) -> Gen:
    yield ctx.call_activity("a")
    yield ctx.call_activity("x")  # renamed-b
    yield ctx.call_activity("c")


def inserted(ctx: Any) -> Gen:
    yield ctx.call_activity("x")  # inserted-x
    yield ctx.call_activity("a")
    yield ctx.call_activity("b")
    yield ctx.call_activity("c")


def removed(ctx: Any) -> Gen:
    yield ctx.call_activity("a")
    yield ctx.call_activity("c")  # removed-b


def other_kind(ctx: Any) -> Gen:
    yield ctx.call_activity("a")
    yield ctx.sleep(5)  # timer-not-b
    yield ctx.call_activity("c")


@pytest.mark.parametrize(
    ("flow", "marker", "task_id", "seq", "recorded", "produced"),
    [
        (renamed, "renamed-b", 1, 3, "ActivityScheduled 'b'", "ActivityScheduled 'x'"),
        (inserted, "inserted-x", 0, 1, "ActivityScheduled 'a'", "ActivityScheduled 'x'"),
        (removed, "removed-b", 1, 3, "ActivityScheduled 'b'", "ActivityScheduled 'c'"),
        (other_kind, "timer-not-b", 1, 3, "ActivityScheduled 'b'", "TimerCreated"),
    ],
)
def test_a_changed_orchestrator_raises_non_determinism_naming_everything(
    flow: Callable[..., Gen], marker: str, task_id: int, seq: int, recorded: str, produced: str
) -> None:
    history = v1_history()
    with pytest.raises(NonDeterminismError) as info:
        Orchestration(make_app(flow), "inst-1", history)
    err = info.value
    line = line_of(marker)
    assert (err.instance_id, err.task_id, err.history_seq) == ("inst-1", task_id, seq)
    assert (err.recorded, err.produced) == (recorded, produced)
    assert (err.filename, err.lineno) == (HERE, line)
    text = str(err)
    for part in ("'inst-1'", f"#{task_id}", f"seq {seq}", recorded, produced, f"{HERE}:{line}"):
        assert part in text


def stops_early(ctx: Any) -> Gen:
    yield ctx.call_activity("a")
    yield ctx.call_activity("b")
    yield ctx.wait_for_event("never")  # waits-instead-of-c


def returns_early(ctx: Any) -> Gen:
    yield ctx.call_activity("a")
    yield ctx.call_activity("b")
    return "early"


def test_removing_the_last_effect_names_where_the_code_waits() -> None:
    with pytest.raises(NonDeterminismError) as info:
        Orchestration(make_app(stops_early), "inst-1", v1_history())
    err = info.value
    assert (err.task_id, err.history_seq, err.recorded) == (2, 5, "ActivityScheduled 'c'")
    assert "waits without creating this effect" in err.produced
    assert (err.filename, err.lineno) == (HERE, line_of("waits-instead-of-c"))


def test_removing_the_last_effect_by_returning_early_says_the_orchestrator_finished() -> None:
    with pytest.raises(NonDeterminismError) as info:
        Orchestration(make_app(returns_early), "inst-1", v1_history())
    assert "had finished" in str(info.value)
    assert info.value.filename is None


def appended(ctx: Any) -> Gen:
    yield ctx.call_activity("a")
    yield ctx.call_activity("b")
    yield ctx.call_activity("c")
    yield ctx.call_activity("x")


def test_an_effect_added_before_a_recorded_event_is_reported_at_that_event() -> None:
    d = Driver(make_app(v1), "flow")
    d.apply(done(0))
    d.apply(done(1))
    d.apply(done(2))
    # as if the old code had waited for an event after c, where the new code calls x
    history = [*d.history[:7], raised_at(7)]
    with pytest.raises(NonDeterminismError) as info:
        Orchestration(make_app(appended), "inst-1", history)
    err = info.value
    assert (err.task_id, err.history_seq) == (3, 7)
    assert (err.recorded, err.produced) == ("EventRaised", "ActivityScheduled 'x'")


def raised_at(seq: int) -> ev.HistoryEvent:
    return ev.EventRaised(seq=seq, timestamp=T0, name="ping", payload="null")


def test_an_effect_added_at_the_end_of_the_history_is_reported() -> None:
    d = Driver(make_app(v1), "flow")
    d.apply(done(0))
    d.apply(done(1))
    d.apply(done(2))
    # drop the terminal event: the history ends with c's completion, the new code wants x
    history = d.history[:-1]
    with pytest.raises(NonDeterminismError) as info:
        Orchestration(make_app(appended), "inst-1", history)
    err = info.value
    assert (err.task_id, err.history_seq) == (3, len(history))
    assert err.recorded == "no further events"
    assert f"seq {len(history)}" in str(err)


def test_the_same_code_replays_without_error() -> None:
    o = Orchestration(make_app(v1), "inst-1", v1_history())
    assert o.status is Status.RUNNING and o.version == 6


# -- patched --------------------------------------------------------------------------------------


def before_patch(ctx: Any) -> Gen:
    yield ctx.call_activity("a")
    yield ctx.call_activity("b")
    return "old"


def with_patch(ctx: Any) -> Gen:
    yield ctx.call_activity("a")
    if ctx.patched("fraud-check"):
        yield ctx.call_activity("x")
        yield ctx.call_activity("b")
        return "new"
    yield ctx.call_activity("b")
    return "old"


def patch_removed(ctx: Any) -> Gen:
    yield ctx.call_activity("a")
    yield ctx.call_activity("x")
    yield ctx.call_activity("b")
    return "new"


def test_a_new_run_records_the_patch_marker_and_takes_the_new_path() -> None:
    d = Driver(make_app(with_patch), "flow")
    step = d.apply(done(0))
    assert kinds(step.events) == ["ActivityCompleted", "PatchMarker", "ActivityScheduled"]
    assert step.events[1] == ev.PatchMarker(seq=3, timestamp=d.now, change_id="fraud-check")
    assert d.scheduled(step) == [(1, "x")]
    d.apply(done(1))
    d.apply(done(2))
    assert d.result() == "new"
    d.replay()


def test_a_history_from_before_the_patch_replays_the_old_path() -> None:
    old = Driver(make_app(before_patch), "flow")
    old.apply(done(0))  # b scheduled (task 1)
    d = Driver(make_app(with_patch), "flow")
    d.history = list(old.history)
    d.live = Orchestration(d.app, d.instance_id, d.history)
    end = d.apply(done(1))
    assert d.result() == "old"
    assert of_type(d.history, ev.PatchMarker) == []
    assert kinds(end.events) == ["ActivityCompleted", "ExecutionCompleted"]


def test_a_history_before_the_patch_point_takes_the_new_path_once_live() -> None:
    old = Driver(make_app(before_patch), "flow")  # a scheduled, not completed
    d = Driver(make_app(with_patch), "flow")
    d.history = list(old.history)
    d.live = Orchestration(d.app, d.instance_id, d.history)
    step = d.apply(done(0))
    assert kinds(step.events) == ["ActivityCompleted", "PatchMarker", "ActivityScheduled"]


def test_code_that_no_longer_calls_patched_replays_a_history_with_its_marker() -> None:
    d = Driver(make_app(with_patch), "flow")
    d.apply(done(0))
    d.apply(done(1))  # marker recorded; b scheduled
    o = Orchestration(make_app(patch_removed), "inst-1", d.history)
    episode = o.apply([done(2)], T0)
    assert episode.status is Status.COMPLETED and episode.output == '"new"'


def patched_twice(ctx: Any) -> Gen:
    first = ctx.patched("p")
    second = ctx.patched("p")
    yield ctx.call_activity("a")
    return [first, second]


def test_patched_records_one_marker_per_change_id() -> None:
    d = Driver(make_app(patched_twice), "flow")
    assert kinds(d.first.events) == ["ExecutionStarted", "PatchMarker", "ActivityScheduled"]
    d.apply(done(0))
    assert d.result() == [True, True]


# -- yielding something that is not a task ---------------------------------------------------------


def yields_42(ctx: Any) -> Gen:
    yield ctx.call_activity("a")
    yield 42  # yields-42


def helper_yields_none(ctx: Any) -> Gen:
    yield None  # helper-yields-none


def yields_in_helper(ctx: Any) -> Gen:
    yield ctx.call_activity("a")
    yield from helper_yields_none(ctx)


@pytest.mark.parametrize(
    ("flow", "marker", "shown"),
    [(yields_42, "yields-42", "42 (int)"), (yields_in_helper, "helper-yields-none", "None")],
)
def test_yielding_a_non_task_fails_naming_the_yield(
    flow: Callable[..., Gen], marker: str, shown: str
) -> None:
    d = Driver(make_app(flow), "flow")
    end = d.apply(done(0))
    assert end.status is Status.FAILED
    assert end.error is not None and end.error.error_type == "TypeError"
    assert shown in end.error.message
    assert f"{HERE}:{line_of(marker)}" in end.error.message
    d.replay()


def catches_type_error(ctx: Any) -> Gen:
    try:
        yield "not a task"
    except TypeError:
        caught = True
    got = yield ctx.call_activity("a", 1)
    return [caught, got]


def test_the_type_error_can_be_caught() -> None:
    d = Driver(make_app(catches_type_error), "flow")
    d.apply(done(0, 1))
    assert d.result() == [True, 1]


# -- is_replaying and the logger -------------------------------------------------------------------


SEEN: list[bool] = []  # ctx.is_replaying at each step of ``observed``


def observed(ctx: Any) -> Gen:
    ctx.logger.info("step %d", 0)
    SEEN.append(ctx.is_replaying)
    yield ctx.call_activity("a")
    ctx.logger.info("step %d", 1)
    SEEN.append(ctx.is_replaying)
    yield ctx.call_activity("b")
    ctx.logger.warning("step %d", 2, extra={"extra_key": "v"})
    SEEN.append(ctx.is_replaying)
    return "ok"


def test_is_replaying_and_the_logger_follow_replay(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(observed)
    caplog.set_level(logging.INFO, logger="durable.orchestration")
    SEEN.clear()
    live = Orchestration(app, "i")
    history = live.apply([started(app, "flow")], T0).events
    assert SEEN == [False]
    assert [r.getMessage() for r in caplog.records] == ["step 0"]
    assert caplog.records[0].instance_id == "i"  # type: ignore[attr-defined]

    SEEN.clear()
    caplog.clear()
    fresh = Orchestration(app, "i", history)  # replays step 0: logged once live already
    assert SEEN == [True] and caplog.records == []
    assert fresh._run is not None and fresh._run.replaying
    fresh.apply([done(0)], T0)  # step 1 is new
    assert SEEN == [True, False]
    assert [r.getMessage() for r in caplog.records] == ["step 1"]
    fresh.apply([done(1)], T0)
    record = caplog.records[-1]
    assert record.getMessage() == "step 2" and record.levelno == logging.WARNING
    assert (record.extra_key, record.instance_id) == ("v", "i")  # type: ignore[attr-defined]


# -- corrupt histories -----------------------------------------------------------------------------


def with_seqs(history: list[ev.HistoryEvent], seqs: list[int]) -> list[ev.HistoryEvent]:
    from dataclasses import replace

    return [replace(event, seq=seq) for event, seq in zip(history, seqs, strict=True)]


@pytest.mark.parametrize(
    ("seqs", "bad"), [([0, 1, 3, 4, 5, 6], 3), ([0, 1, 2, 2, 4, 5], 2), ([1, 2, 3, 4, 5, 6], 1)]
)
def test_a_history_with_a_gap_or_a_duplicate_seq_is_corrupt(seqs: list[int], bad: int) -> None:
    with pytest.raises(HistoryCorrupted) as info:
        Orchestration(make_app(v1), "inst-1", with_seqs(v1_history(), seqs))
    assert (info.value.instance_id, info.value.seq) == ("inst-1", bad)
    assert f"'inst-1' at seq {bad}" in str(info.value)


def test_an_unknown_kind_cannot_be_read() -> None:
    with pytest.raises(ValueError, match="unknown history event kind 'ActivityExploded'"):
        ev.event_from_dict({"kind": "ActivityExploded", "seq": 3})


def test_events_round_trip_through_dicts() -> None:
    history = v1_history()
    assert [ev.event_from_dict(ev.event_to_dict(e)) for e in history] == history


def test_a_completion_for_an_unscheduled_task_is_corrupt() -> None:
    history = [*v1_history(), ev.ActivityCompleted(seq=6, timestamp=T0, task_id=7, result="1")]
    with pytest.raises(HistoryCorrupted) as info:
        Orchestration(make_app(v1), "inst-1", history)
    assert (info.value.seq, info.value.instance_id) == (6, "inst-1")
    assert "effect #7" in str(info.value)


def test_an_event_before_the_start_is_corrupt() -> None:
    with pytest.raises(HistoryCorrupted, match="seq 0: EventRaised before ExecutionStarted"):
        Orchestration(make_app(v1), "inst-1", [raised_at(0)])


class Unknown(ev.HistoryEvent):
    __slots__ = ()


def test_an_event_type_without_a_handler_is_corrupt() -> None:
    history = [*v1_history(), Unknown(seq=6)]
    with pytest.raises(HistoryCorrupted, match="unknown event Unknown"):
        Orchestration(make_app(v1), "inst-1", history)


def test_live_duplicate_and_stale_completions_are_dropped() -> None:
    d = Driver(make_app(v1), "flow")
    d.apply(done(0))
    for message in (
        done(0),
        done(9),
        fired(0),
        ev.ActivityFailed(task_id=0, error=ev.ErrorInfo("E", "m")),
    ):
        episode = d.apply(message)
        assert episode.events == [] and episode.actions == []
    d.apply(done(1), done(1))
    assert [e.task_id for e in d.events_of(ev.ActivityCompleted)] == [0, 1]


# -- closing generators ----------------------------------------------------------------------------


def finally_yields(ctx: Any) -> Gen:
    try:
        yield ctx.call_activity("a")
        yield ctx.call_activity("b")
    finally:
        ctx.send_event("other", "bye")
        ctx.set_custom_status("closing")
        yield ctx.call_activity("c")
        ctx.patched("late")
        yield ctx.wait_for_event("never", timeout=5)
        yield ctx.call_activity("x")


def test_dropping_an_orchestration_closes_its_generator_silently() -> None:
    app = make_app(finally_yields)

    def run_and_drop() -> list[ev.HistoryEvent]:
        o = Orchestration(app, "i")
        episode = o.apply([started(app, "flow")], T0)
        return episode.events

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        events = run_and_drop()
        gc.collect()
    assert kinds(events) == ["ExecutionStarted", "ActivityScheduled"]


def test_closing_records_no_effect_and_a_closed_orchestration_can_be_closed_again() -> None:
    app = make_app(finally_yields)
    o = Orchestration(app, "i")
    o.apply([started(app, "flow")], T0)
    run = o._run
    assert run is not None
    o.close()
    o.close()
    assert run.created == [] and run.emitted_actions == [] and run.patches_new == []
    assert run.unconfirmed == {} and run.waiters == {}


def test_replacing_a_cached_orchestration_by_a_replay_closes_the_old_generator() -> None:
    app = make_app(finally_yields)
    d = Driver(app, "flow")
    d.apply(done(0))
    d.live = Orchestration(app, "i", d.history)  # the old one is dropped here
    gc.collect()
    assert d.history[-1].kind == "ActivityScheduled"


def test_a_terminated_instance_with_a_yielding_finally_records_nothing_more() -> None:
    d = Driver(make_app(finally_yields), "flow")
    end = d.apply(ev.ExecutionTerminated(reason="stop"))
    assert kinds(end.events) == ["ExecutionTerminated"]
    assert end.actions == []
    assert end.error is not None and end.error.message == "stop"
    gc.collect()


def finally_raises(ctx: Any) -> Gen:
    try:
        yield ctx.call_activity("a")
    finally:
        raise ValueError("in finally")


def test_a_finally_block_that_raises_while_closing_is_ignored() -> None:
    app = make_app(finally_raises)
    o = Orchestration(app, "i")
    o.apply([started(app, "flow")], T0)
    o.close()


def test_cancel_compensation_in_a_finally_block_replays() -> None:
    d = Driver(make_app(finally_yields), "flow")
    d.apply(done(0))
    step = d.apply(ev.CancelRequested())  # thrown at b; the finally sends, then yields c
    assert kinds(step.events) == ["CancelRequested", "EventSent", "ActivityScheduled"]
    assert step.custom_status == '"closing"'
    step = d.apply(done(3))  # c; a patch marker, then the wait with its timer (task 4)
    assert kinds(step.events) == ["ActivityCompleted", "PatchMarker", "TimerCreated"]
    step = d.apply(raised("never"))
    assert step.actions[0] == act.CancelTimer(4)
    end = d.apply(done(5))  # x: the finally ends and Cancelled propagates
    assert end.status is Status.CANCELED
    assert of_type(d.history, ev.EventSent)[0].name == "bye"
    d.replay()


def test_a_timeout_inside_a_cancel_finally_block_replaces_the_cancel() -> None:
    d = Driver(make_app(finally_yields), "flow")
    d.apply(ev.CancelRequested())
    d.apply(done(2))
    end = d.apply(fired(3))
    assert end.status is Status.FAILED
    assert end.error is not None and end.error.error_type == "durable.TaskTimeout"
    d.replay()


# -- send_event, signal_entity and sub-orchestrations on replay ----------------------------------


def notifier(ctx: Any) -> Gen:
    from durable._entities import EntityId

    ctx.send_event("other-1", "hello", {"n": 1})
    ctx.signal_entity(EntityId("counter", "k"), "add", 5)
    yield ctx.call_activity("a")
    ctx.send_event("other-1", "bye")
    return "sent"


def test_fire_and_forget_effects_are_recorded_once_and_not_re_emitted_on_replay() -> None:
    d = Driver(make_app(notifier), "flow")
    assert kinds(d.first.events) == [
        "ExecutionStarted",
        "EventSent",
        "EntitySignaled",
        "ActivityScheduled",
    ]
    assert d.first.actions[:2] == [
        act.SendEvent("other-1", "hello", '{"n":1}'),
        act.SignalEntity("counter", "k", "add", "5"),
    ]
    end = d.apply(done(2))
    assert end.actions == [act.SendEvent("other-1", "bye", "null"), act.Complete('"sent"')]
    assert of_type(d.history, ev.EntitySignaled) == [
        ev.EntitySignaled(
            seq=2,
            timestamp=T0,
            task_id=1,
            entity_name="counter",
            entity_key="k",
            operation="add",
            arg="5",
        )
    ]
    # a fresh replay emits nothing for them: the Driver compared every episode already
    fresh = Orchestration(d.app, "inst-1", d.history[:4])
    assert fresh._actions == []


# -- the code ends during replay where the history goes on -----------------------------------------


def waits_after_a(ctx: Any) -> Gen:
    yield ctx.call_activity("a")
    got = yield ctx.wait_for_event("go")
    return got


def returns_after_a(ctx: Any) -> Gen:
    yield ctx.call_activity("a")
    return "fixed"


def test_code_that_now_returns_where_the_old_code_waited_records_its_end_next_episode() -> None:
    old = Driver(make_app(waits_after_a), "flow")
    old.apply(done(0))  # waiting for "go": nothing recorded for the wait
    d = Driver(make_app(returns_after_a), "flow")
    d.history = list(old.history)
    d.live = Orchestration(d.app, d.instance_id, d.history)
    assert d.live.status is Status.COMPLETED  # decided by the code, not yet recorded
    end = d.apply(raised("go", 1))
    assert kinds(end.events) == ["ExecutionCompleted"]
    assert end.events[0].timestamp == d.now
    assert end.actions == [act.Complete('"fixed"')]
    assert d.apply(raised("go", 2)).events == []
    d.replay()


def test_a_recorded_end_wins_over_the_code_and_a_later_cancel_is_ignored() -> None:
    old = Driver(make_app(waits_after_a), "flow")
    old.apply(done(0))
    old.apply(ev.CancelRequested(reason="r"))
    assert old.status is Status.CANCELED
    o = Orchestration(make_app(returns_after_a), "inst-1", old.history)
    assert o.status is Status.CANCELED and o.output is None
    assert o.apply([raised("go")], T0).events == []


def test_terminate_before_the_start_ends_the_run_and_the_start_is_dropped() -> None:
    app = make_app(v1)
    o = Orchestration(app, "i")
    episode = o.apply([ev.ExecutionTerminated(reason="never mind"), started(app, "flow")], T0)
    assert kinds(episode.events) == ["ExecutionTerminated"]
    assert episode.status is Status.TERMINATED and episode.deferred == []
    assert Orchestration(app, "i", episode.events).status is Status.TERMINATED


def test_suspend_before_the_start_waits_for_it_and_then_holds_the_run() -> None:
    app = make_app(v1)
    o = Orchestration(app, "i")
    episode = o.apply([ev.ExecutionSuspended(), started(app, "flow"), done(0)], T0)
    assert kinds(episode.events) == ["ExecutionStarted", "ActivityScheduled", "ExecutionSuspended"]
    assert episode.status is Status.SUSPENDED and episode.deferred == [2]
