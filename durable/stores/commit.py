"""What an episode commit means, whatever the database: the rules both stores apply.

Pure functions over the commit's values (no SQL, no driver): checks of the commit, the run's
outcome, the status the row takes, the message a parent receives when a child ends, and which
eagerly dispatched activities a worker can take. Each backend carries them out in its own SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from .. import _actions as act
from .._errors import ConfigurationError, DurableError, InstanceAlreadyExists
from .._events import (
    ActivityCompleted,
    ErrorInfo,
    ExecutionCanceled,
    ExecutionStarted,
    ExecutionTerminated,
    HistoryEvent,
    SubOrchestrationCompleted,
    SubOrchestrationFailed,
)
from .._status import Status
from .base import ActivityWorkItem, ClaimSpec, EpisodeCommit, NewInstance

#: messages that claim a SUSPENDED instance (its other messages wait until it resumes)
CONTROL_KINDS = frozenset({"ExecutionResumed", "ExecutionTerminated", "ExecutionSuspended"})


def check_commit(commit: EpisodeCommit) -> act.ContinueAsNew | None:
    """Refuse an inconsistent commit (a worker bug), before anything is written.

    Returns the commit's ``ContinueAsNew`` action, if any.
    """
    continue_as_new = next((a for a in commit.actions if isinstance(a, act.ContinueAsNew)), None)
    if (commit.status is Status.CONTINUED_AS_NEW) != (continue_as_new is not None):
        raise ValueError(
            f"instance {commit.instance_id!r}: status {commit.status.value} and a ContinueAsNew "
            "action go together"
        )
    for offset, event in enumerate(commit.events):
        if event.seq != commit.expected_version + offset:
            raise ValueError(
                f"instance {commit.instance_id!r}: event {offset} of the episode ({event.kind}) "
                f"has seq {event.seq}, expected {commit.expected_version + offset}"
            )
    return continue_as_new


def check_first(first: EpisodeCommit, new: NewInstance) -> None:
    """Refuse a first episode (``Store.start_instance``) that does not open ``new``'s history."""
    opening = first.events[0] if first.events else None
    if (
        first.instance_id != new.instance_id
        or first.expected_version != 0
        or first.execution_id != 1
        or not isinstance(opening, ExecutionStarted)
    ):
        raise ValueError(
            f"instance {new.instance_id!r}: a first episode starts at execution 1, version 0, "
            "with ExecutionStarted"
        )


def check_next(then: EpisodeCommit, item: ActivityWorkItem) -> None:
    """Refuse a next episode (``Store.complete_activity``) that does not record ``item``'s
    completion first (a worker bug), before anything is written."""
    opening = then.events[0] if then.events else None
    if (
        then.instance_id != item.instance_id
        or then.execution_id != item.execution_id
        or not isinstance(opening, ActivityCompleted)
        or opening.task_id != item.task_id
    ):
        raise ValueError(
            f"instance {item.instance_id!r}: the episode given with the completion of task "
            f"{item.task_id} does not record it first"
        )


def free_for(
    then: EpisodeCommit,
    status: Status,
    *,
    lease_free: bool,
    ready: bool,
    execution_id: int,
    version: int,
) -> bool:
    """Whether an instance row takes ``then`` with the completion it records (see
    ``Store.complete_activity``): nobody holds it and it is where ``then`` was decided."""
    return (
        lease_free
        and ready
        and not status.is_terminal
        and status is not Status.SUSPENDED
        and execution_id == then.execution_id
        and version == then.expected_version
    )


def guard_failure(
    commit: EpisodeCommit, lease_owner: str | None, execution_id: int, version: int
) -> str | None:
    """Why the instance row (as read under lock) refuses this commit, or None if it accepts."""
    where = f"instance {commit.instance_id!r}"
    if lease_owner != commit.worker_id:
        return (
            f"{where}: the lease is not {commit.worker_id!r}'s any more (held by "
            f"{lease_owner!r}); the episode is dropped"
        )
    if version != commit.expected_version or execution_id != commit.execution_id:
        return (
            f"{where}: the history moved on (execution {execution_id} version {version}, the "
            f"episode expected execution {commit.execution_id} version "
            f"{commit.expected_version}); the episode is dropped"
        )
    return None


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


def storable_retry(policy: object) -> dict[str, object] | None:
    """A retry policy as stored JSON; None when it cannot be stored (tenacity strategies): the
    registered policy (activities) or a single run (children) applies then."""
    to_json = getattr(policy, "to_json", None)
    if to_json is None:
        return None
    try:
        stored: dict[str, object] = to_json()
    except ConfigurationError:
        return None
    return stored


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


def check_purgeable(instance_id: str, tree: Mapping[str, Status]) -> None:
    """Refuse to purge ``instance_id`` unless it and every sub-orchestration under it (``tree``:
    their statuses, by id) have finished: a purge never stops anything that runs."""
    status = tree[instance_id]
    if not status.is_terminal:
        raise DurableError(
            f"instance {instance_id!r} is {status.value}; terminate it first (only finished "
            "instances can be purged)"
        )
    running = sorted(child for child, state in tree.items() if not state.is_terminal)
    if running:
        more = f" (and {len(running) - 1} more)" if len(running) > 1 else ""
        raise DurableError(
            f"instance {instance_id!r} has sub-orchestration {running[0]!r}{more} still "
            f"{tree[running[0]].value}; terminate it first (a purge removes an instance with "
            "its sub-orchestrations, and only finished instances can be purged)"
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


def parent_terminated(parent_id: str, now: datetime) -> ExecutionTerminated:
    """The message each running child gets when its parent is terminated."""
    return ExecutionTerminated(timestamp=now, reason=f"parent {parent_id!r} was terminated")


def next_start(
    name: str,
    action: act.ContinueAsNew,
    parent_instance_id: str | None,
    parent_task_id: int | None,
    now: datetime,
) -> ExecutionStarted:
    """The ``ExecutionStarted`` message of the run a ``ContinueAsNew`` begins."""
    return ExecutionStarted(
        timestamp=now,
        name=name,
        input=action.input,
        parent_instance_id=parent_instance_id,
        parent_task_id=parent_task_id,
    )


def activity_timeout_error(name: str, allowed: float) -> ErrorInfo:
    """The failure of an activity no attempt started within its schedule-to-start timeout."""
    return ErrorInfo(
        "durable.TaskTimeout",
        f"activity {name!r} was not started within {allowed:g} s (schedule_to_start_timeout)",
    )
