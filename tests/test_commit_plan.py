"""Tests of durable.stores.commit: what an episode's commit writes, decided without a store.

``plan_commit`` is pure: each test builds an ``EpisodeCommit`` (events, actions, status) and the
row's facts by hand and asserts on the ``CommitPlan``: no store, no loop, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
import tenacity

from durable import _actions as act
from durable._events import (
    ActivityScheduled,
    EntityOperation,
    ErrorInfo,
    EventRaised,
    ExecutionCanceled,
    ExecutionContinuedAsNew,
    ExecutionStarted,
    ExecutionTerminated,
    HistoryEvent,
    SubOrchestrationCompleted,
    SubOrchestrationFailed,
    TimerFired,
)
from durable._retry import RetryPolicy
from durable._status import Status
from durable.stores.base import ClaimSpec, EpisodeCommit, NewInstance
from durable.stores.commit import (
    CommitPlan,
    Delivery,
    InstanceFacts,
    NewActivity,
    NextRun,
    eager_claimer,
    plan_commit,
)

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
DUE = NOW + timedelta(minutes=5)
VERSION = 3
ID = "order-1"
#: the facts of a top-level instance's row, and of a child's (started by task 9 of "parent-1")
TOP = InstanceFacts(name="order", execution_id=2)
CHILD = InstanceFacts(
    name="order",
    execution_id=2,
    parent_instance_id="parent-1",
    parent_task_id=9,
    parent_execution_id=4,
)
WORKER = ClaimSpec(
    "worker-1",
    30.0,
    activities=frozenset({"charge", "ship"}),
    queues=frozenset({"default", "fast"}),
)
FAILURE = ErrorInfo("builtins.ValueError", "bad card", "Traceback ...")


def schedule(task_id: int, name: str = "charge", queue: str = "default") -> act.ScheduleActivity:
    return act.ScheduleActivity(task_id, name, "[]", act.ActivityOptions(queue=queue))


def recorded(*actions: act.Action) -> list[HistoryEvent]:
    """History events numbered from VERSION, one per action (their kind does not matter here)."""
    return [
        ActivityScheduled(seq=VERSION + i, timestamp=NOW, task_id=i, name="charge", input="[]")
        for i in range(len(actions))
    ]


def episode(
    *actions: act.Action,
    status: Status = Status.RUNNING,
    events: Sequence[HistoryEvent] | None = None,
    consumed: Sequence[int] = (),
    output: str | None = None,
    error: ErrorInfo | None = None,
    custom_status: str | None = None,
) -> EpisodeCommit:
    return EpisodeCommit(
        instance_id=ID,
        worker_id="worker-1",
        execution_id=2,
        expected_version=VERSION,
        events=recorded(*actions) if events is None else events,
        actions=actions,
        consumed=consumed,
        status=status,
        output=output,
        error=error,
        custom_status=custom_status,
    )


def plan(
    commit: EpisodeCommit,
    *,
    instance: InstanceFacts | None = TOP,
    eager: ClaimSpec | None = None,
    eager_limit: int = 0,
) -> CommitPlan:
    return plan_commit(commit, now=NOW, instance=instance, eager=eager, eager_limit=eager_limit)


# ---------------------------------------------------------------- the row and the history


def test_a_commit_writes_its_history_consumed_messages_and_row() -> None:
    events = [
        EventRaised(seq=3, timestamp=NOW, name="approved", payload="true"),
        ActivityScheduled(seq=4, timestamp=NOW, task_id=1, name="charge", input="[]"),
    ]
    commit = episode(schedule(1), events=events, consumed=[11, 12], custom_status='"busy"')

    result = plan(commit)

    assert (result.instance_id, result.execution_id) == (ID, 2)
    assert result.history == events
    assert result.consumed == [11, 12]
    assert result.version == VERSION + 2
    assert result.status is Status.RUNNING
    assert (result.output, result.error) == (None, None)
    assert result.custom_status == '"busy"'
    assert not result.finishing and not result.continues


def test_an_episode_without_events_keeps_the_version() -> None:
    result = plan(episode(events=[]))
    assert result.history == []
    assert result.version == VERSION


def test_output_comes_from_a_complete_action() -> None:
    result = plan(episode(act.Complete('{"total": 5}'), status=Status.COMPLETED))
    assert result.status is Status.COMPLETED
    assert result.output == '{"total": 5}'
    assert result.error is None


def test_the_commits_own_output_wins_over_the_action() -> None:
    commit = episode(act.Complete('"from action"'), status=Status.COMPLETED, output='"own"')
    assert plan(commit).output == '"own"'


def test_error_comes_from_a_fail_action() -> None:
    result = plan(episode(act.Fail(FAILURE), status=Status.FAILED))
    assert result.status is Status.FAILED
    assert result.error == FAILURE
    assert result.output is None


# ---------------------------------------------------------------- activities and their eager claim


def test_new_activities_are_written_unclaimed_without_an_eager_claimer() -> None:
    actions = (schedule(0), schedule(1, "ship"))
    result = plan(episode(*actions), eager=None, eager_limit=5)
    assert result.activities == [NewActivity(actions[0], None), NewActivity(actions[1], None)]


def test_the_eager_claimer_takes_at_most_eager_limit_activities() -> None:
    actions = (schedule(0), schedule(1, "ship"), schedule(2), schedule(3))
    result = plan(episode(*actions), eager=WORKER, eager_limit=2)
    assert [a.action for a in result.activities] == list(actions)
    assert [a.claimer for a in result.activities] == [WORKER, WORKER, None, None]


def test_an_eager_limit_of_zero_claims_nothing() -> None:
    result = plan(episode(schedule(0)), eager=WORKER, eager_limit=0)
    assert [a.claimer for a in result.activities] == [None]


def test_the_eager_claimer_takes_only_its_queues_and_activity_names() -> None:
    actions = (
        schedule(0, "charge", queue="slow"),  # a queue it does not serve
        schedule(1, "refund"),  # an activity it cannot run
        schedule(2, "ship", queue="fast"),
        schedule(3, "charge"),
        schedule(4, "charge"),  # over the limit: the skipped ones did not count
    )
    result = plan(episode(*actions), eager=WORKER, eager_limit=2)
    assert [a.claimer for a in result.activities] == [None, None, WORKER, WORKER, None]


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.CONTINUED_AS_NEW])
def test_a_run_that_ends_claims_nothing_eagerly(status: Status) -> None:
    commit = episode(schedule(0), status=status)
    assert eager_claimer(commit, schedule(0), WORKER, claimed=0, limit=5) is None
    assert eager_claimer(episode(schedule(0)), schedule(0), WORKER, claimed=0, limit=5) is WORKER


# ---------------------------------------------------------------- timers, children, messages


def test_a_timer_is_a_timer_fired_message_stamped_with_its_due_time() -> None:
    result = plan(episode(act.StartTimer(4, DUE)))
    assert result.timers == [TimerFired(timestamp=DUE, task_id=4)]
    assert result.timers[0].timestamp != NOW
    assert result.cancelled_timers == []


def test_a_cancelled_timer_is_listed_by_task_id() -> None:
    result = plan(episode(act.CancelTimer(5), act.CancelTimer(7)))
    assert result.cancelled_timers == [5, 7]
    assert result.timers == []


def test_a_child_is_a_new_instance_with_its_stored_retry_policy() -> None:
    policy = RetryPolicy(max_attempts=5, initial_interval=timedelta(seconds=2))
    action = act.StartChild(6, "ship_order", "child-1", '{"args":[],"kwargs":{}}', policy)

    (child,) = plan(episode(action)).children

    assert child.instance == NewInstance(
        "child-1",
        "ship_order",
        '{"args":[],"kwargs":{}}',
        parent_instance_id=ID,
        parent_task_id=6,
        retry=policy.to_json(),
    )
    assert child.instance.retry is not None and child.instance.retry["max_attempts"] == 5


def test_a_child_id_that_is_taken_fails_the_call_with_a_hint() -> None:
    (child,) = plan(episode(act.StartChild(6, "ship_order", "child-1", "[]"))).children

    taken = child.if_taken
    assert isinstance(taken, SubOrchestrationFailed)
    assert (taken.task_id, taken.timestamp) == (6, NOW)
    assert taken.error.error_type == "durable.InstanceAlreadyExists"
    assert "'child-1'" in taken.error.message
    assert "instance_id=" in taken.error.message


@pytest.mark.parametrize(
    "policy",
    [None, RetryPolicy.from_tenacity(stop=tenacity.stop_after_attempt(2))],
    ids=["no policy", "tenacity strategies"],
)
def test_a_child_without_a_storable_policy_stores_none(policy: RetryPolicy | None) -> None:
    (child,) = plan(episode(act.StartChild(6, "ship_order", "child-1", "[]", policy))).children
    assert child.instance.retry is None


def test_a_sent_event_is_a_delivery_stamped_with_now() -> None:
    result = plan(episode(act.SendEvent("other-1", "approved", "true")))
    assert result.sent == [
        Delivery("other-1", EventRaised(timestamp=NOW, name="approved", payload="true"))
    ]
    assert result.sent[0].execution_id is None


def test_an_entity_signal_is_an_operation_delivered_to_the_entity() -> None:
    result = plan(episode(act.SignalEntity("counter", "c-1", "add", "1")))
    (delivery,) = result.sent
    assert delivery.instance_id == "@counter@c-1" and delivery.execution_id is None
    assert isinstance(delivery.event, EntityOperation)
    assert (delivery.event.operation, delivery.event.arg, delivery.event.timestamp) == (
        "add",
        "1",
        NOW,
    )
    assert delivery.event.caller_task is None  # nobody waits for an answer


def test_an_entity_call_names_its_caller_and_run() -> None:
    result = plan(episode(act.CallEntity(4, "counter", "c-1", "get", "null")))
    (delivery,) = result.sent
    assert delivery.instance_id == "@counter@c-1"
    assert isinstance(delivery.event, EntityOperation)
    assert delivery.event.caller_task == 4
    assert delivery.event.caller_id is not None and delivery.event.caller_execution is not None


# ---------------------------------------------------------------- the end of a run


@pytest.mark.parametrize(
    ("status", "ending"),
    [
        (Status.COMPLETED, act.Complete('"done"')),
        (Status.FAILED, act.Fail(FAILURE)),
        (Status.CANCELED, act.MarkCanceled("stop")),
        (Status.TERMINATED, None),
    ],
)
def test_a_terminal_status_drops_activities_and_timers(
    status: Status, ending: act.Action | None
) -> None:
    actions = [schedule(0), act.StartTimer(1, DUE)] + ([ending] if ending else [])
    result = plan(episode(*actions, status=status), eager=WORKER, eager_limit=5)
    assert result.finishing
    assert result.activities == []
    assert result.timers == []
    assert result.status is status


def test_a_top_level_instance_tells_no_parent() -> None:
    result = plan(episode(act.Complete('"done"'), status=Status.COMPLETED), instance=TOP)
    assert result.finishing
    assert result.to_parent is None
    assert result.to_children is None


def test_a_completed_child_sends_its_output_to_the_parent_run() -> None:
    result = plan(episode(act.Complete('"done"'), status=Status.COMPLETED), instance=CHILD)
    assert result.to_parent == Delivery(
        "parent-1", SubOrchestrationCompleted(timestamp=NOW, task_id=9, result='"done"'), 4
    )


def test_a_completed_child_without_output_sends_null() -> None:
    result = plan(episode(status=Status.COMPLETED, events=[]), instance=CHILD)
    assert result.to_parent is not None
    assert result.to_parent.event == SubOrchestrationCompleted(
        timestamp=NOW, task_id=9, result="null"
    )


def test_a_failed_child_sends_its_error_to_the_parent() -> None:
    result = plan(episode(act.Fail(FAILURE), status=Status.FAILED), instance=CHILD)
    assert result.to_parent == Delivery(
        "parent-1", SubOrchestrationFailed(timestamp=NOW, task_id=9, error=FAILURE), 4
    )


def test_a_failed_child_without_an_error_sends_a_generic_one() -> None:
    result = plan(episode(status=Status.FAILED, events=[]), instance=CHILD)
    assert result.to_parent is not None
    assert isinstance(result.to_parent.event, SubOrchestrationFailed)
    assert result.to_parent.event.error == ErrorInfo("durable.OrchestrationFailed", "failed")


def test_a_terminated_child_sends_the_reason_and_terminates_its_children() -> None:
    events = [ExecutionTerminated(seq=VERSION, timestamp=NOW, reason="by ops")]
    result = plan(episode(status=Status.TERMINATED, events=events), instance=CHILD)

    assert result.to_parent is not None
    sent = result.to_parent.event
    assert isinstance(sent, SubOrchestrationFailed)
    assert sent.error == ErrorInfo(
        "durable.Terminated", "sub-orchestration 'order-1' was terminated: by ops"
    )
    assert result.to_children == ExecutionTerminated(
        timestamp=NOW, reason="parent 'order-1' was terminated"
    )


def test_a_terminated_top_level_instance_still_terminates_its_children() -> None:
    result = plan(episode(status=Status.TERMINATED, events=[]), instance=None)
    assert result.to_parent is None
    assert result.to_children is not None
    assert result.to_children.reason == "parent 'order-1' was terminated"


@pytest.mark.parametrize(
    ("commit", "message"),
    [
        (
            episode(act.MarkCanceled("stop"), status=Status.CANCELED),
            "sub-orchestration 'order-1' was cancelled: stop",
        ),
        (
            episode(
                status=Status.CANCELED,
                events=[ExecutionCanceled(seq=VERSION, timestamp=NOW, reason="from event")],
            ),
            "sub-orchestration 'order-1' was cancelled: from event",
        ),
        (
            episode(act.MarkCanceled(), status=Status.CANCELED),
            "sub-orchestration 'order-1' was cancelled",
        ),
    ],
    ids=["action reason", "event reason", "no reason"],
)
def test_a_canceled_child_sends_the_reason(commit: EpisodeCommit, message: str) -> None:
    result = plan(commit, instance=CHILD)
    assert result.to_parent is not None
    assert result.to_parent.event == SubOrchestrationFailed(
        timestamp=NOW, task_id=9, error=ErrorInfo("durable.Cancelled", message)
    )
    assert result.to_children is None  # only a termination is passed on


def test_a_running_child_tells_its_parent_nothing() -> None:
    result = plan(episode(schedule(0)), instance=CHILD)
    assert result.to_parent is None
    assert not result.finishing


# ---------------------------------------------------------------- continue as new


def continued(action: act.ContinueAsNew) -> EpisodeCommit:
    events = [ExecutionContinuedAsNew(seq=VERSION + 2, timestamp=NOW, input=action.input)]
    return episode(
        schedule(0),
        act.StartTimer(1, DUE),
        action,
        status=Status.CONTINUED_AS_NEW,
        events=[*recorded(schedule(0), act.StartTimer(1, DUE)), *events],
        consumed=[21],
    )


CARRIED = (EventRaised(timestamp=NOW, name="approved", payload="true"),)
AGAIN = act.ContinueAsNew('{"args":[2],"kwargs":{}}', carryover=CARRIED, delay=2.5, attempt=3)


def test_continue_as_new_clears_the_run_and_waits_pending() -> None:
    result = plan(continued(AGAIN), instance=CHILD, eager=WORKER, eager_limit=5)
    assert result.continues
    assert result.history == []  # the next run starts with a fresh history
    assert result.status is Status.PENDING
    assert result.consumed == [21]
    assert result.version == VERSION + 3
    assert (result.activities, result.timers) == ([], [])
    assert not result.finishing
    assert result.to_parent is None


def test_continue_as_new_with_facts_plans_the_next_run() -> None:
    result = plan(continued(AGAIN), instance=CHILD)
    assert result.next_run == NextRun(
        execution_id=3,
        input='{"args":[2],"kwargs":{}}',
        attempt=3,
        started=ExecutionStarted(
            timestamp=NOW,
            name="order",
            input='{"args":[2],"kwargs":{}}',
            parent_instance_id="parent-1",
            parent_task_id=9,
        ),
        carryover=CARRIED,
        delay=2.5,
    )


def test_continue_as_new_keeps_the_attempt_count_by_default() -> None:
    result = plan(continued(act.ContinueAsNew("[]")), instance=TOP)
    assert result.next_run is not None
    assert (result.next_run.attempt, result.next_run.delay) == (None, 0.0)
    assert result.next_run.carryover == ()
    assert result.next_run.started.parent_instance_id is None


def test_continue_as_new_without_facts_has_no_next_run() -> None:
    result = plan_commit(continued(AGAIN), now=None, instance=None)
    assert result.continues
    assert result.next_run is None
    assert not result.simple


# ---------------------------------------------------------------- simple plans


SIMPLE = {
    "activities and timers": episode(schedule(0), act.StartTimer(1, DUE)),
    "completed top-level": episode(schedule(0), act.Complete('"ok"'), status=Status.COMPLETED),
    "failed top-level": episode(act.Fail(FAILURE), status=Status.FAILED),
    "nothing": episode(events=[]),
}
NOT_SIMPLE = {
    "cancelled timer": (episode(act.CancelTimer(1)), TOP),
    "child": (episode(act.StartChild(1, "ship", "child-1", "[]")), TOP),
    "sent event": (episode(act.SendEvent("other-1", "go", "null")), TOP),
    "to parent": (episode(act.Complete('"ok"'), status=Status.COMPLETED), CHILD),
    "to children": (episode(status=Status.TERMINATED, events=[]), TOP),
    "continue as new": (continued(AGAIN), TOP),
}


@pytest.mark.parametrize("commit", SIMPLE.values(), ids=SIMPLE.keys())
def test_plans_that_write_history_row_activities_and_timers_are_simple(
    commit: EpisodeCommit,
) -> None:
    assert plan(commit, instance=TOP).simple


@pytest.mark.parametrize(("commit", "facts"), NOT_SIMPLE.values(), ids=NOT_SIMPLE.keys())
def test_plans_that_do_more_are_not_simple(commit: EpisodeCommit, facts: InstanceFacts) -> None:
    assert not plan(commit, instance=facts).simple


@pytest.mark.parametrize("commit", SIMPLE.values(), ids=SIMPLE.keys())
def test_a_simple_plan_needs_neither_now_nor_facts(commit: EpisodeCommit) -> None:
    bare = plan_commit(commit, now=None, instance=None, eager=WORKER, eager_limit=1)
    full = plan_commit(commit, now=NOW, instance=TOP, eager=WORKER, eager_limit=1)
    assert bare.simple
    assert bare == full


def test_without_now_what_a_plan_sends_is_unstamped() -> None:
    result = plan_commit(episode(act.SendEvent("other-1", "go", "null")), now=None, instance=None)
    assert not result.simple
    assert result.sent[0].event.timestamp == datetime.min.replace(tzinfo=UTC)


# ---------------------------------------------------------------- refusals (check_commit)


def test_an_event_out_of_sequence_is_refused() -> None:
    events = [EventRaised(seq=VERSION + 1, timestamp=NOW, name="late", payload="1")]
    with pytest.raises(
        ValueError, match=r"event 0 of the episode \(EventRaised\) has seq 4, expected 3"
    ):
        plan(episode(events=events))


def test_a_gap_later_in_the_episode_is_refused() -> None:
    events = [
        EventRaised(seq=VERSION, timestamp=NOW, name="a", payload="1"),
        EventRaised(seq=VERSION + 2, timestamp=NOW, name="b", payload="2"),
    ]
    with pytest.raises(ValueError, match=r"'order-1': event 1 .* has seq 5, expected 4"):
        plan(episode(events=events))


def test_continued_as_new_without_a_continue_as_new_action_is_refused() -> None:
    with pytest.raises(ValueError, match="CONTINUED_AS_NEW and a ContinueAsNew action go together"):
        plan(episode(status=Status.CONTINUED_AS_NEW, events=[]))


def test_a_continue_as_new_action_under_another_status_is_refused() -> None:
    with pytest.raises(ValueError, match="status RUNNING and a ContinueAsNew action go together"):
        plan(episode(act.ContinueAsNew("[]"), events=[]))
