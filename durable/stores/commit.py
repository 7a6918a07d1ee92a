"""The commit plan: what an episode writes, decided once for every backend (pure: no SQL).

``plan_commit`` turns an ``EpisodeCommit`` (and the facts of the instance's row) into a
``CommitPlan``: the history rows, the inbox rows consumed, the row's new status and outcome,
the activity rows (and which are leased to the committing worker at once), timers, timers
cancelled, child instances, messages to other instances, and what ending the run or continuing
it as new does. Each action has one planner in ``_PLANNERS``; a backend only writes plans (the
SQLite transaction, PostgreSQL's transaction and its one-statement path alike), so a new action
is a new planner here, and a new kind of row is a new field that each writer writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import _actions as act
from .._errors import InstanceAlreadyExists
from .._events import (
    ErrorInfo,
    EventRaised,
    ExecutionCanceled,
    ExecutionStarted,
    ExecutionTerminated,
    HistoryEvent,
    SubOrchestrationCompleted,
    SubOrchestrationFailed,
    TimerFired,
    UpdateRequested,
)
from .._status import Status
from .base import ClaimSpec, EpisodeCommit, NewInstance
from .entity_messages import entity_messages
from .rules import check_commit, storable_retry

#: the time of events a plan made without knowing the store's time (see ``plan_commit``)
_UNSTAMPED = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class InstanceFacts:
    """What a plan needs of the instance's row, as read under the commit's lock."""

    name: str
    execution_id: int
    parent_instance_id: str | None = None
    parent_task_id: int | None = None
    parent_execution_id: int | None = None


@dataclass(frozen=True, slots=True)
class NewActivity:
    """An activity row; with a ``claimer``, leased to it by the commit (its first attempt)."""

    action: act.ScheduleActivity
    claimer: ClaimSpec | None


@dataclass(frozen=True, slots=True)
class NewChild:
    """A child instance to create, and the message its parent gets instead if the id is taken."""

    instance: NewInstance
    if_taken: SubOrchestrationFailed


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message to another instance (dropped when it is missing or finished); with an
    ``execution_id``, for that run only."""

    instance_id: str
    event: HistoryEvent
    execution_id: int | None = None


@dataclass(frozen=True, slots=True)
class NextRun:
    """Continue as new: the run that starts (its ``started`` message first, then the events
    carried over, all visible after ``delay`` seconds)."""

    execution_id: int
    input: str
    attempt: int | None
    started: ExecutionStarted
    carryover: tuple[EventRaised | UpdateRequested, ...]
    delay: float


@dataclass(slots=True)
class CommitPlan:
    """Everything one episode's commit writes, in one transaction (see ``Store.commit_episode``)."""

    instance_id: str
    execution_id: int
    #: history rows to append (none when the run continues as new: its history is cleared)
    history: list[HistoryEvent]
    #: inbox message ids to delete
    consumed: list[int]
    #: the instance row's new status, outcome, custom status and version
    status: Status
    output: str | None
    error: ErrorInfo | None
    custom_status: str | None
    version: int
    activities: list[NewActivity] = field(default_factory=list)
    #: ``TimerFired`` messages, each visible at its ``timestamp`` (the due time)
    timers: list[TimerFired] = field(default_factory=list)
    #: task ids of this run's timers to delete
    cancelled_timers: list[int] = field(default_factory=list)
    children: list[NewChild] = field(default_factory=list)
    sent: list[Delivery] = field(default_factory=list)
    #: the run ended: the instance's pending activities and messages are deleted
    finishing: bool = False
    #: the parent's message when a child ends (needs the row's facts)
    to_parent: Delivery | None = None
    #: the message every running child gets when this instance is terminated
    to_children: ExecutionTerminated | None = None
    next_run: NextRun | None = None
    #: the run continues as new (``next_run`` says how, given the row's facts)
    continues: bool = False
    #: (key, encoded value) appended to the instance's streams, in order
    stream_values: list[tuple[str, str]] = field(default_factory=list)
    #: answers to updates, stored for the clients that wait for them
    update_results: list[act.RespondUpdate] = field(default_factory=list)

    @property
    def has_outputs(self) -> bool:
        """Whether the plan writes stream values or update answers (clients wait for them)."""
        return bool(self.stream_values or self.update_results)

    @property
    def simple(self) -> bool:
        """Whether the plan writes only history, the row, activities and timers (and drops
        pending work when the run ends): what one shared statement can carry out."""
        return not (
            self.continues
            or self.children
            or self.sent
            or self.cancelled_timers
            or self.to_parent
            or self.to_children
            or self.next_run
            or self.has_outputs
        )


@dataclass(slots=True)
class _Context:
    commit: EpisodeCommit
    now: datetime
    eager: ClaimSpec | None
    eager_limit: int
    #: the new activities given to ``eager`` so far (counted as they are planned: counting
    #: them again at each one made a fan-out of n activities cost n^2)
    leased: int = 0


def plan_commit(
    commit: EpisodeCommit,
    *,
    now: datetime | None,
    instance: InstanceFacts | None,
    eager: ClaimSpec | None = None,
    eager_limit: int = 0,
) -> CommitPlan:
    """The plan of ``commit`` (checked first: ``ValueError`` for a commit a worker got wrong).

    ``now`` stamps the messages the commit sends; ``instance``, the row's facts, says where a
    child's outcome goes and how the next run starts. Without them (None) the plan is only
    good to ask whether it is ``simple`` and to write a simple one: what it would send or start
    is left out or unstamped. ``eager`` takes up to ``eager_limit`` of the new activities it
    can run.
    """
    continue_as_new = check_commit(commit)
    status = row_status(commit)
    output, error = outcome(commit)
    plan = CommitPlan(
        instance_id=commit.instance_id,
        execution_id=commit.execution_id,
        history=[] if continue_as_new else list(commit.events),
        consumed=list(commit.consumed),
        status=status,
        output=output,
        error=error,
        custom_status=commit.custom_status,
        version=commit.expected_version + len(commit.events),
    )
    context = _Context(commit, now or _UNSTAMPED, eager, eager_limit)
    for action in commit.actions:
        _PLANNERS[type(action)](plan, action, context)
    if status.is_terminal:
        _plan_end(plan, context, instance)
    elif continue_as_new is not None:
        plan.continues = True
        plan.activities, plan.timers = [], []  # the old run's pending work is dropped
        if instance is not None:
            plan.next_run = _next_run(continue_as_new, instance, context.now)
    return plan


# -- one planner per action ------------------------------------------------------------------------


def _schedule_activity(plan: CommitPlan, action: act.ScheduleActivity, c: _Context) -> None:
    claimer = eager_claimer(c.commit, action, c.eager, c.leased, c.eager_limit)
    c.leased += claimer is not None
    plan.activities.append(NewActivity(action, claimer))


def _start_timer(plan: CommitPlan, action: act.StartTimer, c: _Context) -> None:
    plan.timers.append(TimerFired(timestamp=action.fire_at, task_id=action.task_id))


def _cancel_timer(plan: CommitPlan, action: act.CancelTimer, c: _Context) -> None:
    plan.cancelled_timers.append(action.task_id)


def _start_child(plan: CommitPlan, action: act.StartChild, c: _Context) -> None:
    new = NewInstance(
        action.instance_id,
        action.name,
        action.input,
        parent_instance_id=plan.instance_id,
        parent_task_id=action.task_id,
        retry=None if action.retry is None else storable_retry(action.retry),
    )
    plan.children.append(NewChild(new, child_taken(action, c.now)))


def _send_event(plan: CommitPlan, action: act.SendEvent, c: _Context) -> None:
    event = EventRaised(timestamp=c.now, name=action.name, payload=action.payload)
    plan.sent.append(Delivery(action.instance_id, event))


def _to_entities(plan: CommitPlan, action: act.Action, c: _Context) -> None:
    """Entity operations, locks, and an entity's answers: messages (see ``entity_messages``)."""
    for target, event, execution_id in entity_messages(
        action, plan.instance_id, plan.execution_id, c.now
    ):
        plan.sent.append(Delivery(target, event, execution_id))


def _write_stream(plan: CommitPlan, action: act.WriteStream, c: _Context) -> None:
    plan.stream_values.append((action.key, action.value))


def _respond_update(plan: CommitPlan, action: act.RespondUpdate, c: _Context) -> None:
    plan.update_results.append(action)


def _through_the_status(plan: CommitPlan, action: act.Action, c: _Context) -> None:
    """Complete, Fail, MarkCanceled and ContinueAsNew act through the status and outcome."""


_PLANNERS: dict[type[act.Action], Callable[[CommitPlan, Any, _Context], None]] = {
    act.ScheduleActivity: _schedule_activity,
    act.StartTimer: _start_timer,
    act.CancelTimer: _cancel_timer,
    act.StartChild: _start_child,
    act.SendEvent: _send_event,
    act.SignalEntity: _to_entities,
    act.CallEntity: _to_entities,
    act.LockEntities: _to_entities,
    act.UnlockEntities: _to_entities,
    act.SendMessage: _to_entities,
    act.WriteStream: _write_stream,
    act.RespondUpdate: _respond_update,
    act.Complete: _through_the_status,
    act.Fail: _through_the_status,
    act.MarkCanceled: _through_the_status,
    act.ContinueAsNew: _through_the_status,
}


# -- the end of a run ------------------------------------------------------------------------------


def _plan_end(plan: CommitPlan, c: _Context, instance: InstanceFacts | None) -> None:
    """A terminal status: pending work goes, the parent hears, a termination is passed on."""
    plan.finishing = True
    plan.activities = []  # dropped with the rest of the instance's pending work
    plan.timers = []
    if instance is not None and instance.parent_instance_id is not None:
        assert instance.parent_task_id is not None
        event = child_outcome(c.commit, plan.status, instance.parent_task_id, c.now)
        plan.to_parent = Delivery(instance.parent_instance_id, event, instance.parent_execution_id)
    if plan.status is Status.TERMINATED:
        reason = f"parent {plan.instance_id!r} was terminated"
        plan.to_children = ExecutionTerminated(timestamp=c.now, reason=reason)


def _next_run(action: act.ContinueAsNew, instance: InstanceFacts, now: datetime) -> NextRun:
    started = ExecutionStarted(
        timestamp=now,
        name=instance.name,
        input=action.input,
        parent_instance_id=instance.parent_instance_id,
        parent_task_id=instance.parent_task_id,
    )
    return NextRun(
        instance.execution_id + 1,
        action.input,
        action.attempt,
        started,
        action.carryover,
        action.delay,
    )


def row_status(commit: EpisodeCommit) -> Status:
    """The status the instance row takes: a continued run waits PENDING for its next start."""
    if commit.status is Status.CONTINUED_AS_NEW:
        return Status.PENDING
    return commit.status


def outcome(commit: EpisodeCommit) -> tuple[str | None, ErrorInfo | None]:
    """The run's output and error, from the commit or else from its Complete/Fail action."""
    output, error = commit.output, commit.error
    for action in commit.actions:
        if isinstance(action, act.Complete) and output is None:
            output = action.output
        elif isinstance(action, act.Fail) and error is None:
            error = action.error
    return output, error


def eager_claimer(
    commit: EpisodeCommit,
    action: act.ScheduleActivity,
    eager: ClaimSpec | None,
    claimed: int,
    limit: int,
) -> ClaimSpec | None:
    """``eager`` if it should take this new activity in the commit's transaction, else None."""
    if eager is None or claimed >= limit:
        return None
    if commit.status.is_terminal or commit.status is Status.CONTINUED_AS_NEW:
        return None
    if action.options.queue not in eager.queues or action.name not in eager.activities:
        return None
    return eager


def child_taken(action: act.StartChild, now: datetime) -> SubOrchestrationFailed:
    """The parent's message when a child's id is taken."""
    taken = InstanceAlreadyExists(
        action.instance_id,
        hint="pass ctx.call_sub_orchestrator an instance_id= that is not in use, or purge the "
        "instance that has this one",
    )
    return SubOrchestrationFailed(
        timestamp=now,
        task_id=action.task_id,
        error=ErrorInfo("durable.InstanceAlreadyExists", str(taken)),
    )


def _reason(commit: EpisodeCommit) -> str | None:
    for event in commit.events:
        if isinstance(event, ExecutionTerminated | ExecutionCanceled):
            return event.reason
    for action in commit.actions:
        if isinstance(action, act.MarkCanceled):
            return action.reason
    return None


def child_outcome(
    commit: EpisodeCommit, status: Status, parent_task_id: int, now: datetime
) -> HistoryEvent:
    """The parent's message when this (child) instance reaches terminal ``status``."""
    output, error = outcome(commit)
    if status is Status.COMPLETED:
        result = "null" if output is None else output
        return SubOrchestrationCompleted(timestamp=now, task_id=parent_task_id, result=result)
    if status is Status.FAILED:
        error = error or ErrorInfo("durable.OrchestrationFailed", "failed")
    else:
        verb, error_type = (
            ("terminated", "durable.Terminated")
            if status is Status.TERMINATED
            else ("cancelled", "durable.Cancelled")
        )
        reason = _reason(commit)
        suffix = f": {reason}" if reason else ""
        message = f"sub-orchestration {commit.instance_id!r} was {verb}{suffix}"
        error = ErrorInfo(error_type, message)
    return SubOrchestrationFailed(timestamp=now, task_id=parent_task_id, error=error)
