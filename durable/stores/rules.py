"""The rules every backend checks before and around a commit (pure: no SQL, no driver).

Refusals of a commit a worker got wrong (``check_*``), the guard of an episode's commit (the
lease and the version), when an instance takes an episode decided before its completion was
recorded (``free_for``), what a purge may remove, and how a retry policy and an expired start
are stored. What a commit writes is ``stores.commit``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .. import _actions as act
from .._errors import ConfigurationError, DurableError
from .._events import ActivityCompleted, ErrorInfo, ExecutionStarted
from .._status import Status
from .base import ActivityWorkItem, EpisodeCommit, NewInstance

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


def check_next(then: EpisodeCommit, items: Sequence[ActivityWorkItem]) -> None:
    """Refuse a next episode (``Store.complete_activity``) that does not record ``items``'
    completions first, in order (a worker bug), before anything is written."""
    first = items[0]
    recorded = [
        event.task_id if isinstance(event, ActivityCompleted) else None
        for event in then.events[: len(items)]
    ]
    if (
        then.instance_id != first.instance_id
        or any(i.instance_id != first.instance_id for i in items)
        or then.execution_id != first.execution_id
        or recorded != [item.task_id for item in items]
    ):
        raise ValueError(
            f"instance {first.instance_id!r}: the episode given with the completion of task "
            f"{first.task_id} does not record it first"
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


def activity_timeout_error(name: str, allowed: float) -> ErrorInfo:
    """The failure of an activity no attempt started within its schedule-to-start timeout."""
    return ErrorInfo(
        "durable.TaskTimeout",
        f"activity {name!r} was not started within {allowed:g} s (schedule_to_start_timeout)",
    )
