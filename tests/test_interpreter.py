"""Tests of durable._core.interpreter: the orchestrator driven from history, episode by episode.

Every test goes through the pure API (events in, events and actions out) with the kit's
``Driver``, which checks at every episode that a fresh replay of the history prefix gives the
same episode as the cached ``Orchestration``. Replay-specific behaviour (non-determinism,
patches, corrupt histories, closing generators) is in ``test_interpreter_replay.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from durable import _actions as act
from durable import _events as ev
from durable._core.interpreter import Orchestration
from durable._core.registry import App
from durable._core.task import Task
from durable._errors import (
    ActivityFailed,
    Cancelled,
    OrchestrationFailed,
    TaskTimeout,
)
from durable._status import Status
from tests.interpreter_kit import T0, Driver, done, failed, fired, kinds, of_type, raised, started

Gen = Generator[Any, Any, Any]
HERE = Path(__file__)
app = App()


def line_of(marker: str) -> int:
    """The line number in this file of the line ending with ``# <marker>``."""
    for number, line in enumerate(HERE.read_text().splitlines(), start=1):
        if line.rstrip().endswith(f"# {marker}"):
            return number
    raise AssertionError(marker)


@dataclasses.dataclass(frozen=True)
class Order:
    id: str
    cents: int


@dataclasses.dataclass(frozen=True)
class Receipt:
    order_id: str
    paid_at: datetime


@app.activity
def add(x: int) -> int:
    return x + 1


@app.activity
async def charge(order: Order) -> Receipt:
    return Receipt(order.id, T0)


@app.activity
def stamp() -> datetime:
    return T0


@app.activity
def refund(order_id: str) -> None:
    return None


@app.activity
def anything(x: Any = None) -> Any:
    return x


# -- sequential activities, typed payloads -------------------------------------------------------


@app.orchestrator
def chain(ctx: Any, n: int) -> Gen:
    a = yield ctx.call_activity(add, n)
    b = yield ctx.call_activity(add, a)
    c = yield ctx.call_activity(add, b)
    return [a, b, c]


def test_sequential_activities_run_one_after_another() -> None:
    d = Driver(app, chain, 1)
    assert kinds(d.first.events) == ["ExecutionStarted", "ActivityScheduled"]
    assert d.scheduled() == [(0, "add")]
    assert d.first.actions == [
        act.ScheduleActivity(0, "add", '{"args":[1],"kwargs":{}}', act.ActivityOptions())
    ]
    assert d.status is Status.RUNNING
    d.apply(done(0, 2))
    assert d.scheduled() == [(1, "add")]
    d.apply(done(1, 3))
    assert d.scheduled() == [(2, "add")]
    last = d.apply(done(2, 4))
    assert kinds(last.events) == ["ActivityCompleted", "ExecutionCompleted"]
    assert last.actions == [act.Complete("[2,3,4]")]
    assert last.status is Status.COMPLETED and last.output == "[2,3,4]"
    assert d.result() == [2, 3, 4]
    d.replay()


def test_events_carry_the_episode_time() -> None:
    d = Driver(app, chain, 1)
    assert {e.timestamp for e in d.first.events} == {T0}
    later = T0 + timedelta(minutes=5)
    episode = d.apply(done(0, 2), at=later)
    assert {e.timestamp for e in episode.events} == {later}


@app.orchestrator
def checkout(ctx: Any, order: Order) -> Gen:
    receipt = yield ctx.call_activity(charge, order)
    when = yield ctx.call_activity(stamp)
    assert isinstance(receipt, Receipt) and isinstance(when, datetime)
    return {"receipt": receipt, "late": when > receipt.paid_at}


def test_payloads_are_decoded_by_the_hints_and_the_output_encoded() -> None:
    d = Driver(app, checkout, Order("o-1", 500))
    scheduled = d.events_of(ev.ActivityScheduled)[0]
    assert scheduled.input == '{"args":[{"id":"o-1","cents":500}],"kwargs":{}}'
    d.apply(
        ev.ActivityCompleted(
            task_id=0, result='{"order_id":"o-1","paid_at":"2026-01-01T00:00:00+00:00"}'
        )
    )
    d.apply(ev.ActivityCompleted(task_id=1, result='"2026-01-02T00:00:00+00:00"'))
    assert d.result() == {
        "receipt": {"order_id": "o-1", "paid_at": "2026-01-01T00:00:00+00:00"},
        "late": True,
    }


def test_a_result_that_does_not_fit_the_hint_is_raised_at_the_yield() -> None:
    d = Driver(app, checkout, Order("o-1", 500))
    d.apply(ev.ActivityCompleted(task_id=0, result='"not a receipt"'))
    assert d.status is Status.FAILED
    assert d.live.error is not None
    assert d.live.error.error_type == "durable.SerializationError"
    assert "result" in d.live.error.message


def test_an_input_that_does_not_fit_the_hints_fails_the_instance() -> None:
    o = Orchestration(app, "bad-input")
    episode = o.apply([ev.ExecutionStarted(name="checkout", input='{"args":[42],"kwargs":{}}')], T0)
    assert episode.status is Status.FAILED
    assert kinds(episode.events) == ["ExecutionStarted", "ExecutionFailed"]
    assert episode.error is not None and episode.error.error_type == "durable.SerializationError"
    assert of_type(episode.actions, act.Fail) == [act.Fail(episode.error)]


# -- failures -------------------------------------------------------------------------------------


@app.orchestrator
def catches(ctx: Any) -> Gen:
    try:
        yield ctx.call_activity(add, 1)
    except ActivityFailed as exc:
        return [exc.activity_name, exc.error_type, exc.message, exc.traceback, exc.attempts]
    return None


def test_activity_failed_is_raised_at_the_yield_with_its_data() -> None:
    d = Driver(app, catches)
    d.apply(failed(0, "ValueError", "no", "Traceback: acts.py line 3", attempts=4))
    assert d.result() == ["add", "ValueError", "no", "Traceback: acts.py line 3", 4]


@app.orchestrator
def saga(ctx: Any, order_id: str) -> Gen:
    yield ctx.call_activity(anything, "reserve")
    try:
        yield ctx.call_activity(anything, "charge")
    except ActivityFailed:
        yield ctx.call_activity(refund, order_id)
        raise
    return "ok"


def test_saga_compensates_then_reraises() -> None:
    d = Driver(app, saga, "o-9")
    d.apply(done(0, "reserved"))
    compensation = d.apply(failed(1, "CardDeclined", "declined"))
    assert d.scheduled(compensation) == [(2, "refund")]
    assert compensation.status is Status.RUNNING
    end = d.apply(done(2))
    assert end.status is Status.FAILED
    assert end.error is not None
    assert end.error.error_type == "durable.ActivityFailed"
    assert "CardDeclined: declined" in end.error.message
    d.replay()


@app.orchestrator
def unhandled(ctx: Any) -> Gen:
    yield ctx.call_activity(add, 1)
    yield ctx.call_activity(add, 2)  # the-failing-yield
    return None


def test_an_unhandled_failure_records_the_orchestrators_yield_and_the_activity_traceback() -> None:
    d = Driver(app, unhandled)
    d.apply(done(0, 2))
    end = d.apply(failed(1, "KeyError", "'k'", "File \"acts.py\", line 42, in add\nKeyError: 'k'"))
    assert end.status is Status.FAILED
    error = end.error
    assert error is not None
    assert kinds(end.events) == ["ActivityFailed", "ExecutionFailed"]
    assert end.events[-1] == ev.ExecutionFailed(
        seq=end.events[-1].seq, timestamp=d.now, error=error
    )
    assert end.actions == [act.Fail(error)]
    assert error.error_type == "durable.ActivityFailed"
    assert error.message == "activity 'add' failed after 1 attempt: KeyError: 'k'"
    assert f'File "{HERE}", line {line_of("the-failing-yield")}, in unhandled' in error.traceback
    assert 'File "acts.py", line 42, in add' in error.traceback
    assert d.replay().error == error


@app.orchestrator
def raises_itself(ctx: Any) -> Gen:
    yield ctx.call_activity(add, 1)
    raise RuntimeError("my own bug")


def test_an_exception_of_the_orchestrator_fails_the_instance() -> None:
    d = Driver(app, raises_itself)
    end = d.apply(done(0, 2))
    assert end.error is not None
    assert (end.error.error_type, end.error.message) == ("RuntimeError", "my own bug")
    assert "raise RuntimeError" in end.error.traceback


@app.orchestrator
def returns_unserializable(ctx: Any) -> Gen:
    yield ctx.call_activity(add, 1)
    return {1, 2}


def test_an_output_that_cannot_be_encoded_fails_the_instance() -> None:
    d = Driver(app, returns_unserializable)
    end = d.apply(done(0, 2))
    assert end.status is Status.FAILED
    assert end.error is not None and end.error.error_type == "durable.SerializationError"


# -- composites -----------------------------------------------------------------------------------


@app.orchestrator
def fan_out(ctx: Any, n: int) -> Gen:
    results = yield ctx.when_all([ctx.call_activity(anything, i) for i in range(n)])
    return results


def test_when_all_gives_results_in_the_order_given() -> None:
    d = Driver(app, fan_out, 3)
    assert d.scheduled() == [(0, "anything"), (1, "anything"), (2, "anything")]
    assert d.apply(done(2, "c")).status is Status.RUNNING
    d.apply(done(0, "a"))
    d.apply(done(1, "b"))
    assert d.result() == ["a", "b", "c"]


def test_when_all_of_nothing_is_an_empty_list() -> None:
    d = Driver(app, fan_out, 0)
    assert d.first.status is Status.COMPLETED
    assert d.result() == []


def test_when_all_fails_with_the_first_failure() -> None:
    d = Driver(app, fan_out, 3)
    end = d.apply(failed(2, "ValueError", "third"), failed(0, "KeyError", "first"))
    assert end.status is Status.FAILED
    assert end.error is not None and "ValueError: third" in end.error.message
    # later results of the other activities are dropped: the instance has finished
    assert d.apply(done(1, "b")).events == []


@app.orchestrator
def nested(ctx: Any) -> Gen:
    a, b, c = (
        ctx.call_activity(anything, 1),
        ctx.call_activity(anything, 2),
        ctx.call_activity(anything, 3),
    )
    first, third = yield ctx.when_all([ctx.when_any([a, b]), c])
    both = yield ctx.when_all([ctx.when_all([a]), ctx.when_all([b, c])])
    return [first is a, first.result(), third, both]


def test_composites_nest() -> None:
    d = Driver(app, nested)
    d.apply(done(1, "b"))
    d.apply(done(2, "c"))
    waiting = d.apply(done(0, "a"))
    assert waiting.events[-1].kind == "ExecutionCompleted"
    assert d.result() == [False, "b", "c", [["a"], ["b", "c"]]]


@app.orchestrator
def race(ctx: Any) -> Gen:
    fast, slow = ctx.call_activity(anything, 1), ctx.call_activity(anything, 2)
    winner = yield ctx.when_any([fast, slow])
    try:
        value = winner.result()
    except ActivityFailed as exc:
        value = f"failed: {exc.message}"
    later = yield slow
    again = yield fast
    return [winner is fast, value, later, again]


def test_when_any_returns_the_winning_task_and_a_loser_later_returns_at_once() -> None:
    d = Driver(app, race)
    step = d.apply(done(0, "fast"))
    assert step.actions == [] and step.status is Status.RUNNING
    end = d.apply(done(1, "slow"))
    assert kinds(end.events) == ["ActivityCompleted", "ExecutionCompleted"]
    assert d.result() == [True, "fast", "slow", "fast"]
    assert len(d.events_of(ev.ActivityScheduled)) == 2


def test_when_any_with_a_failed_winner_raises_from_its_result() -> None:
    d = Driver(app, race)
    d.apply(failed(0, "ValueError", "nope"))
    d.apply(done(1, "slow"))
    assert d.status is Status.FAILED  # ``again = yield fast`` raises the failure again
    assert d.live.error is not None and "ValueError: nope" in d.live.error.message


@app.orchestrator
def race_of_finished(ctx: Any) -> Gen:
    a, b = ctx.call_activity(anything, 1), ctx.call_activity(anything, 2)
    yield ctx.call_activity(anything, 3)
    winner = yield ctx.when_any([a, b])
    return winner is b


def test_when_any_of_finished_tasks_picks_the_one_that_finished_first() -> None:
    d = Driver(app, race_of_finished)
    d.apply(done(1, "b"), done(0, "a"))
    d.apply(done(2, "c"))
    assert d.result() is True


@app.orchestrator
def typed(ctx: Any) -> Gen:
    a: int = yield from ctx.call_activity(add, 1)
    b: int = yield from helper(ctx, a)
    return a + b


def helper(ctx: Any, x: int) -> Generator[Task[Any], Any, int]:
    y: int = yield ctx.call_activity(add, x)
    z: int = yield from ctx.call_activity(add, y)
    return z


def test_yield_from_a_task_and_from_a_helper_generator() -> None:
    d = Driver(app, typed)
    d.apply(done(0, 2))
    assert d.scheduled() == [(1, "add")]
    d.apply(done(1, 3))
    assert d.scheduled() == [(2, "add")]
    d.apply(done(2, 4))
    assert d.result() == 6


# -- timers and the clock -------------------------------------------------------------------------


@app.orchestrator
def sleeper(ctx: Any, how: str) -> Gen:
    when: Any = {
        "delta": timedelta(hours=1),
        "seconds": 90,
        "datetime": datetime(2026, 2, 1, tzinfo=UTC),
        "naive": datetime(2026, 2, 1),
        "negative": timedelta(seconds=-1),
        "bool": True,
    }[how]
    yield ctx.sleep(when)
    return "woke"


@pytest.mark.parametrize(
    ("how", "due"),
    [
        ("delta", T0 + timedelta(hours=1)),
        ("seconds", T0 + timedelta(seconds=90)),
        ("datetime", datetime(2026, 2, 1, tzinfo=UTC)),
    ],
)
def test_sleep_records_a_timer_due_at_episode_time_plus_duration(how: str, due: datetime) -> None:
    d = Driver(app, sleeper, how)
    assert d.first.events[-1] == ev.TimerCreated(seq=1, timestamp=T0, task_id=0, fire_at=due)
    assert d.first.actions == [act.StartTimer(0, due)]
    end = d.apply(fired(0), at=due)
    assert kinds(end.events) == ["TimerFired", "ExecutionCompleted"]
    assert d.result() == "woke"


@pytest.mark.parametrize(
    ("how", "words"),
    [("naive", "timezone-aware"), ("negative", "must be zero or positive"), ("bool", "timedelta")],
)
def test_sleep_refuses_bad_durations(how: str, words: str) -> None:
    d = Driver(app, sleeper, how)
    assert d.status is Status.FAILED
    assert d.live.error is not None
    assert d.live.error.error_type == "durable.ConfigurationError"
    assert words in d.live.error.message and "ctx.sleep" in d.live.error.message


@app.orchestrator
def clock(ctx: Any) -> Gen:
    first = yield ctx.now()
    yield ctx.sleep(60)
    second = yield ctx.now()
    return [first, second]


def test_now_records_the_episode_time_and_replays_it() -> None:
    d = Driver(app, clock)
    assert of_type(d.first.events, ev.NowRecorded) == [
        ev.NowRecorded(seq=1, timestamp=T0, task_id=0, value=T0)
    ]
    woke = T0 + timedelta(minutes=1, seconds=3)
    d.apply(fired(1), at=woke)
    assert d.result() == [T0.isoformat(), woke.isoformat()]
    # replaying at any other time gives the recorded values
    assert d.replay().output == d.live.output


@app.orchestrator
def clock_then_wait(ctx: Any) -> Gen:
    first = yield ctx.now()
    yield ctx.wait_for_event("go")
    return first


def test_now_replayed_at_another_wall_time_is_the_recorded_one() -> None:
    d = Driver(app, clock_then_wait)
    fresh = Orchestration(app, "inst-1", d.history)
    much_later = T0 + timedelta(days=30)
    episode = fresh.apply([raised("go")], much_later)
    assert episode.output == f'"{T0.isoformat()}"'
    assert episode.events[-1].timestamp == much_later


# -- external events ------------------------------------------------------------------------------


@app.orchestrator
def approvals(ctx: Any, n: int) -> Gen:
    got = []
    for _ in range(n):
        got.append((yield ctx.wait_for_event("approve")))
    return got


def test_events_are_buffered_until_waited_for_and_delivered_fifo() -> None:
    d = Driver(app, approvals, 3)
    assert d.first.actions == [] and d.status is Status.RUNNING
    step = d.apply(raised("approve", 1), raised("approve", 2))
    assert kinds(step.events) == ["EventRaised", "EventRaised"]
    assert step.status is Status.RUNNING
    d.apply(raised("other", "x"), raised("approve", 3))
    assert d.result() == [1, 2, 3]


@app.orchestrator
def buffered_first(ctx: Any) -> Gen:
    yield ctx.call_activity(add, 1)
    first = yield ctx.wait_for_event("go")
    second = yield ctx.wait_for_event("go")
    return [first, second]


def test_an_event_that_arrives_before_the_wait_is_kept() -> None:
    d = Driver(app, buffered_first)
    d.apply(raised("go", "early"), raised("go", "second"))
    end = d.apply(done(0, 2))
    assert end.status is Status.COMPLETED
    assert d.result() == ["early", "second"]


@app.orchestrator
def deadline(ctx: Any) -> Gen:
    try:
        answer = yield ctx.wait_for_event("answer", timeout=timedelta(minutes=5))
    except TaskTimeout as exc:
        return f"timeout: {exc}"
    return answer


def test_a_wait_with_a_timeout_raises_task_timeout() -> None:
    d = Driver(app, deadline)
    assert d.first.actions == [act.StartTimer(0, T0 + timedelta(minutes=5))]
    d.apply(fired(0))
    assert d.result() == "timeout: wait_for_event('answer') timed out"
    # an event after the timeout is recorded (it arrived) but changes nothing
    assert d.apply(raised("answer", 1)).events == []


def test_an_event_before_the_timeout_cancels_its_timer_and_a_late_firing_is_dropped() -> None:
    d = Driver(app, deadline)
    end = d.apply(raised("answer", 42))
    assert end.status is Status.COMPLETED
    assert act.CancelTimer(0) in end.actions
    assert d.result() == 42
    assert d.apply(fired(0)).events == []


@app.orchestrator
def deadline_then_more(ctx: Any) -> Gen:
    answer = yield ctx.wait_for_event("answer", timeout=60)
    more = yield ctx.call_activity(add, answer)
    return more


def test_an_event_before_the_timeout_while_running_cancels_the_timer_in_that_episode() -> None:
    d = Driver(app, deadline_then_more)
    step = d.apply(raised("answer", 1))
    assert step.actions[0] == act.CancelTimer(0)
    assert d.scheduled(step) == [(1, "add")]
    late = d.apply(fired(0))
    assert late.events == [] and late.actions == []
    d.apply(done(1, 2))
    assert d.result() == 2


@app.orchestrator
def event_or_timer(ctx: Any) -> Gen:
    wait = ctx.wait_for_event("ping")
    winner = yield ctx.when_any([wait, ctx.sleep(30)])
    lost = winner is not wait
    got = yield ctx.wait_for_event("ping")
    return [lost, got]


def test_a_wait_that_lost_a_race_does_not_consume_a_later_event() -> None:
    d = Driver(app, event_or_timer)
    d.apply(fired(0))
    d.apply(raised("ping", "for the second wait"))
    assert d.result() == [True, "for the second wait"]


@app.orchestrator
def two_waits(ctx: Any) -> Gen:
    yield ctx.call_activity(add, 1)
    a, b = ctx.wait_for_event("a"), ctx.wait_for_event("b")
    winner = yield ctx.when_any([a, b])
    later = yield ctx.wait_for_event("b")
    return [winner is a, winner.result(), later]


def test_a_losing_wait_does_not_take_a_buffered_event_either() -> None:
    d = Driver(app, two_waits)
    d.apply(raised("a", "A"), raised("b", "B"))
    d.apply(done(0, 2))
    assert d.result() == [True, "A", "B"]


@app.orchestrator
def either_then_wait(ctx: Any) -> Gen:
    yield ctx.call_activity(add, 1)
    a, b = ctx.wait_for_event("a"), ctx.wait_for_event("b")
    winner = yield ctx.when_any([b, a])  # b waits (activated first); buffered "a" wins at once
    later = yield ctx.wait_for_event("b")
    return [winner is a, later]


def test_a_wait_that_lost_to_a_buffered_event_does_not_take_a_later_event() -> None:
    d = Driver(app, either_then_wait)
    d.apply(raised("a", "A"))
    d.apply(done(0, 2))
    d.apply(raised("b", "B"))
    assert d.result() == [True, "B"]


@app.orchestrator
def wait_or_now(ctx: Any) -> Gen:
    yield ctx.call_activity(add, 1)
    wait = ctx.wait_for_event("x")
    winner = yield ctx.when_any([wait, ctx.now()])
    yield ctx.call_activity(add, 2)
    return "wait" if winner is wait else "now"


def test_a_wait_racing_now_gives_the_same_winner_live_and_on_replay() -> None:
    d = Driver(app, wait_or_now)
    d.apply(raised("x", 1))  # buffered
    d.apply(done(0, 2))  # live: now() is recorded, so done, before the wait may take "x"
    d.apply(done(2, 3))  # the Driver replays the race here
    assert d.result() == "now"
    assert d.apply(raised("y")).events == []


@app.orchestrator
def wait_in_all(ctx: Any) -> Gen:
    got = yield ctx.when_all([ctx.wait_for_event("x", timeout=100), ctx.call_activity(add, 1)])
    return got


def test_a_timer_withdrawn_while_the_generator_waits_is_cancelled_in_that_episode() -> None:
    d = Driver(app, wait_in_all)
    assert [type(a).__name__ for a in d.first.actions] == ["StartTimer", "ScheduleActivity"]
    step = d.apply(raised("x", "X"))
    assert step.actions == [act.CancelTimer(0)]
    end = d.apply(done(1, 2))
    assert end.actions == [act.Complete('["X",2]')]


def test_an_undecodable_event_payload_is_raised_at_the_yield() -> None:
    d = Driver(app, approvals, 1)
    d.apply(ev.EventRaised(name="approve", payload="{not json"))
    assert d.status is Status.FAILED
    assert d.live.error is not None and d.live.error.error_type == "durable.SerializationError"


# -- continue-as-new ------------------------------------------------------------------------------


@app.orchestrator
def eternal(ctx: Any, count: int) -> Gen:
    yield ctx.call_activity(add, count)
    got = yield ctx.wait_for_event("tick")
    return ctx.continue_as_new(count + got)


def test_continue_as_new_carries_unconsumed_events_in_arrival_order() -> None:
    d = Driver(app, eternal, 1)
    d.apply(raised("tick", 10), raised("tock", "a"), raised("tick", 20), raised("tock", "b"))
    end = d.apply(done(0, 2))
    assert end.status is Status.CONTINUED_AS_NEW
    assert kinds(end.events) == ["ActivityCompleted", "ExecutionContinuedAsNew"]
    new_input = '{"args":[11],"kwargs":{}}'
    assert end.events[-1] == ev.ExecutionContinuedAsNew(
        seq=end.events[-1].seq, timestamp=d.now, input=new_input
    )
    assert end.actions == [
        act.ContinueAsNew(
            new_input,
            (
                ev.EventRaised(name="tock", payload='"a"'),
                ev.EventRaised(name="tick", payload="20"),
                ev.EventRaised(name="tock", payload='"b"'),
            ),
        )
    ]
    assert d.live.is_finished
    assert d.replay().status is Status.CONTINUED_AS_NEW


def test_events_in_the_same_batch_after_continue_as_new_are_carried_over() -> None:
    d = Driver(app, eternal, 1)
    d.apply(done(0, 2))
    end = d.apply(raised("tick", 1), raised("tock", "late"), raised("tick", 2))
    assert end.status is Status.CONTINUED_AS_NEW
    (action,) = of_type(end.actions, act.ContinueAsNew)
    assert action.carryover == (
        ev.EventRaised(name="tock", payload='"late"'),
        ev.EventRaised(name="tick", payload="2"),
    )


def test_control_requests_after_continue_as_new_in_the_same_batch_stay_for_the_next_run() -> None:
    d = Driver(app, eternal, 1)
    d.apply(done(0, 2))
    end = d.apply(raised("tick", 1), ev.CancelRequested(), raised("tock", "x"), done(0, 2))
    assert end.status is Status.CONTINUED_AS_NEW
    assert end.deferred == [1]
    (action,) = of_type(end.actions, act.ContinueAsNew)
    assert action.carryover == (ev.EventRaised(name="tock", payload='"x"'),)


# -- cancellation ----------------------------------------------------------------------------------


@app.orchestrator
def cancellable(ctx: Any) -> Gen:
    timer = ctx.sleep(3600)
    try:
        yield ctx.when_all([ctx.call_activity(add, 1), timer])
    except Cancelled:
        yield ctx.call_activity(refund, "o-1")
        raise
    finally:
        yield ctx.call_activity(anything, "cleanup")
    return "done"


def test_cancel_throws_cancelled_at_the_yield_and_compensation_runs() -> None:
    d = Driver(app, cancellable)
    step = d.apply(ev.CancelRequested(reason="user asked"))
    assert kinds(step.events) == ["CancelRequested", "ActivityScheduled"]
    assert step.actions == [act.CancelTimer(0), step.actions[1]]
    assert d.scheduled(step) == [(2, "refund")]
    # the cancelled activity's late result is dropped
    late = d.apply(done(1, 2))
    assert late.events == [] and late.actions == []
    step = d.apply(done(2))
    assert d.scheduled(step) == [(3, "anything")]
    end = d.apply(done(3))
    assert end.status is Status.CANCELED
    assert kinds(end.events) == ["ActivityCompleted", "ExecutionCanceled"]
    assert end.events[-1] == ev.ExecutionCanceled(
        seq=end.events[-1].seq, timestamp=d.now, reason="user asked"
    )
    assert end.actions == [act.MarkCanceled("user asked")]
    assert d.replay().status is Status.CANCELED


@app.orchestrator
def swallows_cancel(ctx: Any) -> Gen:
    try:
        yield ctx.wait_for_event("never", timeout=10)
    except Cancelled as exc:
        return f"stopped: {exc.reason}"
    return "no"


def test_a_caught_cancel_lets_the_orchestrator_complete() -> None:
    d = Driver(app, swallows_cancel)
    end = d.apply(ev.CancelRequested(reason="why"))
    assert end.status is Status.COMPLETED
    assert end.actions == [act.CancelTimer(0), act.Complete('"stopped: why"')]


def test_cancel_of_a_finished_instance_changes_nothing() -> None:
    d = Driver(app, swallows_cancel)
    d.apply(ev.CancelRequested())
    assert d.apply(ev.CancelRequested()).events == []


# -- terminate and suspend -------------------------------------------------------------------------


@app.orchestrator
def stubborn(ctx: Any) -> Gen:
    try:
        yield ctx.call_activity(add, 1)
    finally:
        yield ctx.call_activity(anything, "cleanup")
        ctx.send_event("other", "bye")


def test_terminate_runs_no_more_effects() -> None:
    d = Driver(app, stubborn)
    end = d.apply(ev.ExecutionTerminated(reason="ops"), done(0, 2))
    assert end.status is Status.TERMINATED
    assert kinds(end.events) == ["ExecutionTerminated"]
    assert end.actions == []
    assert d.apply(done(0, 2)).events == []
    assert d.replay().status is Status.TERMINATED


@app.orchestrator
def two_steps(ctx: Any) -> Gen:
    a = yield ctx.call_activity(add, 1)
    b = yield ctx.call_activity(add, a)
    return b


def test_a_suspended_instance_defers_messages_until_resumed() -> None:
    d = Driver(app, two_steps)
    step = d.apply(ev.ExecutionSuspended(reason="maintenance"))
    assert step.status is Status.SUSPENDED
    step = d.apply(done(0, 2), raised("x", 1))
    assert step.events == [] and step.deferred == [0, 1]
    assert step.status is Status.SUSPENDED
    step = d.apply(ev.ExecutionResumed(), done(0, 2), raised("x", 1))
    assert kinds(step.events) == [
        "ExecutionResumed",
        "ActivityCompleted",
        "ActivityScheduled",
        "EventRaised",
    ]
    assert step.deferred == [] and step.status is Status.RUNNING
    d.apply(done(1, 3))
    assert d.result() == 3


def test_messages_waiting_in_a_batch_are_applied_after_a_resume_in_the_same_batch() -> None:
    d = Driver(app, two_steps)
    d.apply(ev.ExecutionSuspended())
    step = d.apply(done(0, 2), ev.ExecutionResumed())
    assert kinds(step.events) == ["ExecutionResumed", "ActivityCompleted", "ActivityScheduled"]
    assert step.deferred == []


def test_a_suspended_instance_can_be_terminated() -> None:
    d = Driver(app, two_steps)
    d.apply(ev.ExecutionSuspended())
    end = d.apply(done(0, 2), ev.ExecutionTerminated())
    assert end.status is Status.TERMINATED
    assert end.deferred == []


def test_messages_before_the_start_are_deferred_then_applied_after_it() -> None:
    o = Orchestration(app, "early")
    waiting = o.apply([raised("x", 1)], T0)
    assert waiting.events == [] and waiting.deferred == [0] and waiting.status is Status.PENDING
    episode = o.apply([raised("x", 1), started(app, two_steps)], T0)
    assert kinds(episode.events) == ["ExecutionStarted", "ActivityScheduled", "EventRaised"]
    assert episode.deferred == []


def test_a_second_start_is_dropped() -> None:
    d = Driver(app, two_steps)
    assert d.apply(started(app, two_steps)).events == []


def test_resume_without_suspend_is_recorded_and_harmless() -> None:
    d = Driver(app, two_steps)
    step = d.apply(ev.ExecutionResumed())
    assert kinds(step.events) == ["ExecutionResumed"] and step.status is Status.RUNNING


# -- sub-orchestrations ----------------------------------------------------------------------------


@app.orchestrator
def child(ctx: Any, order: Order) -> Generator[Task[Any], Any, Receipt]:
    receipt: Receipt = yield ctx.call_activity(charge, order)
    return receipt


@app.orchestrator
def parent(ctx: Any, explicit_id: bool) -> Gen:
    kwargs = {"instance_id": "my-child"} if explicit_id else {}
    try:
        receipt = yield ctx.call_sub_orchestrator(child, Order("o-2", 7), **kwargs)
    except OrchestrationFailed as exc:
        return [exc.instance_id, exc.error_type, exc.message, exc.traceback]
    assert isinstance(receipt, Receipt)
    return receipt


def test_a_sub_orchestration_is_started_and_its_result_decoded_by_its_return_annotation() -> None:
    d = Driver(app, parent, False)
    payload = '{"args":[{"id":"o-2","cents":7}],"kwargs":{}}'
    assert d.first.events[-1] == ev.SubOrchestrationScheduled(
        seq=1, timestamp=T0, task_id=0, name="child", instance_id="inst-1:0", input=payload
    )
    assert d.first.actions == [act.StartChild(0, "child", "inst-1:0", payload, None)]
    d.apply(
        ev.SubOrchestrationCompleted(
            task_id=0, result='{"order_id":"o-2","paid_at":"2026-01-01T00:00:00+00:00"}'
        )
    )
    assert d.result() == {"order_id": "o-2", "paid_at": "2026-01-01T00:00:00+00:00"}


def test_a_sub_orchestration_failure_is_raised_at_the_yield() -> None:
    d = Driver(app, parent, True)
    assert of_type(d.first.actions, act.StartChild)[0].instance_id == "my-child"
    d.apply(
        ev.SubOrchestrationFailed(task_id=0, error=ev.ErrorInfo("ValueError", "bad", "tb text"))
    )
    assert d.result() == ["my-child", "ValueError", "bad", "tb text"]


def test_a_child_runs_from_its_own_start_event() -> None:
    d = Driver(app, child, Order("o-3", 1), instance_id="inst-1:0")
    assert d.scheduled() == [(0, "charge")]


@app.orchestrator
def yields_the_cancelled_wait_again(ctx: Any) -> Gen:
    wait = ctx.wait_for_event("x", timeout=60)
    try:
        yield wait
    except Cancelled:
        try:
            yield wait
        except Cancelled:
            return "cancelled"
        except TaskTimeout:
            return "timed out"
    return "got it"


def test_a_wait_with_a_timeout_that_is_cancelled_did_not_time_out() -> None:
    d = Driver(app, yields_the_cancelled_wait_again)
    end = d.apply(ev.CancelRequested())
    assert end.actions == [act.CancelTimer(0), act.Complete('"cancelled"')]
