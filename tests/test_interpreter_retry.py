"""Tests of a retried sub-orchestration, decided by the interpreter alone (no store, no worker).

``Orchestration(app, instance_id, history, retry=policy.to_json(), attempt=n)``: when the run
fails, the policy allows another attempt and the error type is retryable, the episode ends the
run ``CONTINUED_AS_NEW`` with an ``ExecutionContinuedAsNew`` event (the run's input) and a
``ContinueAsNew(input, (), delay, n + 1)`` action, in place of ``ExecutionFailed`` and ``Fail``.
Every episode goes through the kit's ``Driver``, which checks the cached path against a replay.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import Any

import pytest

from durable import _actions as act
from durable import _events as ev
from durable._core.interpreter import Orchestration
from durable._core.registry import App
from durable._errors import qualified_name
from durable._retry import RetryPolicy
from durable._status import Status
from tests.interpreter_kit import T0, Driver, done, failed, kinds, raised, started

Gen = Generator[Any, Any, Any]
app = App()


class Declined(Exception):
    pass


@app.activity
def work(n: int) -> Any:
    return n


@app.orchestrator
def flaky(ctx: Any, n: int) -> Gen:
    """Fails with the error type the activity's result names (or completes on "ok")."""
    outcome = yield ctx.call_activity(work, n)
    if outcome == "declined":
        raise Declined("card declined")
    if outcome != "ok":
        raise ValueError(f"bad outcome {outcome!r}")
    return n


@app.orchestrator
def cancellable(ctx: Any) -> Gen:
    yield ctx.wait_for_event("never")


#: three attempts, 2 s then 4 s apart, no jitter; Declined fails at once
POLICY = RetryPolicy(
    max_attempts=3, initial_interval=2, backoff_coefficient=2, jitter=0, non_retryable=(Declined,)
).to_json()
RUN_INPUT = started(app, "flaky", 7).input


def failing_run(*, retry: dict[str, object] | None = POLICY, attempt: int = 1) -> Driver:
    d = Driver(app, "flaky", 7, instance_id="parent:0", retry=retry, attempt=attempt)
    d.apply(done(0, "boom"))
    return d


def test_a_failed_run_with_attempts_left_continues_as_new_after_the_delay() -> None:
    plain = failing_run(retry=None).last
    retried = failing_run().last
    assert plain.status is Status.FAILED
    assert retried.status is Status.CONTINUED_AS_NEW
    # what the worker's as_retry made of the failed episode: the end and its action replaced
    failed_end = plain.events[-1]
    assert isinstance(failed_end, ev.ExecutionFailed)
    assert retried.events == [
        *plain.events[:-1],
        ev.ExecutionContinuedAsNew(
            seq=failed_end.seq, timestamp=failed_end.timestamp, input=RUN_INPUT
        ),
    ]
    restart = act.ContinueAsNew(RUN_INPUT, (), 2.0, 2)
    assert retried.actions == [restart if isinstance(a, act.Fail) else a for a in plain.actions]
    assert retried.error == plain.error  # the instance shows why it runs again
    assert retried.error is not None and retried.error.error_type == "ValueError"
    assert (retried.output, retried.deferred) == (None, [])


@pytest.mark.parametrize(("attempt", "delay"), [(1, 2.0), (2, 4.0)])
def test_the_delay_grows_with_the_attempt_and_the_next_attempt_is_counted(
    attempt: int, delay: float
) -> None:
    episode = failing_run(attempt=attempt).last
    assert episode.actions[-1] == act.ContinueAsNew(RUN_INPUT, (), delay, attempt + 1)


def test_the_last_attempt_fails_for_good() -> None:
    d = failing_run(attempt=3)
    assert d.status is Status.FAILED
    assert isinstance(d.last.actions[-1], act.Fail)
    assert kinds(d.last.events)[-1] == "ExecutionFailed"


def test_a_non_retryable_error_type_fails_at_once() -> None:
    d = Driver(app, "flaky", 7, retry=POLICY)
    d.apply(done(0, "declined"))
    assert d.status is Status.FAILED
    assert d.live.error is not None
    assert d.live.error.error_type == qualified_name(Declined)


def test_a_run_that_completes_or_is_cancelled_is_not_retried() -> None:
    d = Driver(app, "flaky", 7, retry=POLICY)
    d.apply(done(0, "ok"))
    assert d.status is Status.COMPLETED and d.result() == 7
    c = Driver(app, "cancellable", retry=POLICY)
    c.apply(ev.CancelRequested(reason="stop"))
    assert c.status is Status.CANCELED
    assert isinstance(c.last.actions[-1], act.MarkCanceled)


def test_a_failure_to_start_is_retried_too() -> None:
    d = Driver(app, "flaky", "not a number", retry=POLICY)
    assert d.status is Status.CONTINUED_AS_NEW
    assert d.first.actions == [
        act.ContinueAsNew(started(app, "flaky", "not a number").input, (), 2.0, 2)
    ]


def test_the_jitter_is_the_same_on_every_replay_and_stays_in_its_band() -> None:
    jittery = dataclasses.replace(RetryPolicy.from_json(POLICY), jitter=0.5).to_json()
    delays = set()
    for instance_id in ("a:0", "b:0", "c:0", "d:0"):
        d = Driver(app, "flaky", 7, instance_id=instance_id, retry=jittery)  # checks the replay
        d.apply(done(0, "boom"))
        restart = d.last.actions[-1]
        assert isinstance(restart, act.ContinueAsNew)
        assert 1.0 <= restart.delay <= 3.0
        delays.add(restart.delay)
    assert len(delays) > 1  # seeded by the instance id: not one delay for every child


def test_a_retried_run_carries_no_events_and_leaves_control_requests_for_the_next_run() -> None:
    d = Driver(app, "flaky", 7, retry=POLICY)
    d.apply(raised("early", 1))  # buffered: nobody waits for it
    episode = d.apply(done(0, "boom"), raised("late", 2), ev.ExecutionTerminated(reason="x"))
    assert episode.status is Status.CONTINUED_AS_NEW
    assert episode.actions[-1] == act.ContinueAsNew(RUN_INPUT, (), 2.0, 2)
    assert episode.deferred == [2]  # the terminate waits for the next run


def test_a_history_that_ends_in_a_retry_replays_as_continued() -> None:
    d = failing_run()
    fresh = Orchestration(app, "parent:0", d.history, retry=POLICY, attempt=1)
    assert fresh.status is Status.CONTINUED_AS_NEW and fresh.is_finished
    assert fresh.apply([done(0, "late")], T0).events == []


def test_without_a_policy_the_attempt_number_changes_nothing() -> None:
    d = failing_run(retry=None, attempt=5)
    assert d.status is Status.FAILED


def test_an_activity_failure_that_escapes_the_run_is_retried_by_its_type() -> None:
    d = Driver(app, "flaky", 7, retry=POLICY)
    d.apply(failed(0, "ValueError"))
    assert d.last.actions[-1] == act.ContinueAsNew(RUN_INPUT, (), 2.0, 2)
    assert d.live.error is not None and d.live.error.error_type == "durable.ActivityFailed"
    not_activity_failures = {**POLICY, "non_retryable": ["durable.ActivityFailed"]}
    e = Driver(app, "flaky", 7, retry=not_activity_failures)
    e.apply(failed(0, "ValueError"))
    assert e.status is Status.FAILED


@pytest.mark.parametrize("attempt", [0, -1, True])
def test_an_attempt_number_below_one_is_refused(attempt: int) -> None:
    with pytest.raises(ValueError, match="attempt must be an int >= 1"):
        Orchestration(app, "i", retry=POLICY, attempt=attempt)
