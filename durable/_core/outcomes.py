"""Outcomes: a result or failure translated between the history, the generator and the run.

A recorded failure becomes the exception the orchestrator sees at its ``yield``; an exception
becomes the ``ErrorInfo`` the history keeps; a finished task becomes the ``send`` or ``throw``
that resumes the generator; a recorded end becomes the run's status, output and error; a failed
run of a retried sub-orchestration becomes its next attempt. Pure: no I/O, no clock (the retry's
jitter is seeded from the instance id and the attempt, so every replay decides alike).
"""

from __future__ import annotations

import random
import traceback
from collections.abc import Callable, Generator, Mapping
from typing import Any

from .. import _actions as act
from .. import _events as ev
from .._errors import ActivityFailed as ActivityFailedError
from .._errors import Cancelled, OrchestrationFailed, TaskTimeout, _RemoteFailure, qualified_name
from .._retry import RetryPolicy
from .._status import Status
from .frames import suspended_location
from .task import Task

#: how to advance the generator one step: ``gen.send(value)`` or ``gen.throw(error)``
Advance = Callable[[Generator[Any, Any, Any]], Any]

# -- recorded failures -> what the code sees ----------------------------------------------------


def activity_failure(event: ev.ActivityFailed, name: str) -> Exception:
    """What the code sees when activity ``name`` failed: its timeout, or ``ActivityFailed``."""
    error = event.error
    if error.error_type == qualified_name(TaskTimeout):
        return TaskTimeout(error.message)
    return ActivityFailedError(
        name,
        error_type=error.error_type,
        message=error.message,
        traceback=error.traceback,
        attempts=event.attempts,
    )


def child_failure(event: ev.SubOrchestrationFailed, child_id: str) -> OrchestrationFailed:
    """What the code sees when the sub-orchestration ``child_id`` failed."""
    error = event.error
    return OrchestrationFailed(
        child_id,
        error_type=error.error_type,
        message=error.message,
        traceback=error.traceback,
    )


# -- exceptions -> what the history keeps -------------------------------------------------------


def error_info(exc: BaseException) -> ev.ErrorInfo:
    """The recorded form of ``exc``: its type, message and traceback (and the remote one)."""
    text = "".join(traceback.format_exception(exc))
    if isinstance(exc, _RemoteFailure) and exc.traceback:
        text += f"\nThe failure came from:\n{exc.traceback}"
    return ev.ErrorInfo(qualified_name(type(exc)), str(exc), text)


# -- finished tasks -> how the generator resumes ------------------------------------------------


def resumption(task: Task[Any]) -> Advance:
    """Resume the generator with a finished task's outcome: its value, or its error raised."""
    failure = task.exception()
    if failure is not None:
        return lambda g: g.throw(failure)
    value = task._value
    return lambda g: g.send(value)


def not_a_task(yielded: Any, gen: Generator[Any, Any, Any]) -> Advance:
    """Resume the generator with a TypeError: it yielded ``yielded``, which is not a Task."""
    location = suspended_location(gen)  # the innermost helper's yield
    where = f" at {location[0]}:{location[1]}" if location else ""
    error: BaseException = TypeError(
        f"the orchestrator yielded {yielded!r} ({type(yielded).__name__}){where}; yield a "
        "Task returned by a ctx method (ctx.call_activity, ctx.sleep, ctx.when_all, ...)"
    )
    return lambda g: g.throw(error)


# -- recorded ends -> the run's status, output and error ----------------------------------------


def _ended_completed(e: Any) -> tuple[Status, str | None, ev.ErrorInfo | None]:
    return Status.COMPLETED, e.output, None


def _ended_failed(e: Any) -> tuple[Status, str | None, ev.ErrorInfo | None]:
    return Status.FAILED, None, e.error


def _ended_canceled(e: Any) -> tuple[Status, str | None, ev.ErrorInfo | None]:
    # Fix: the live path records the Cancelled error; replay rebuilds it (the history keeps
    # the reason, not the traceback) instead of leaving it None.
    return Status.CANCELED, None, ev.ErrorInfo(qualified_name(Cancelled), str(Cancelled(e.reason)))


#: the events that end a run, each with the (status, output, error) its replay restores
END_OF: dict[type[ev.HistoryEvent], Callable[[Any], tuple[Status, Any, Any]]] = {
    ev.ExecutionCompleted: _ended_completed,
    ev.ExecutionFailed: _ended_failed,
    ev.ExecutionContinuedAsNew: lambda e: (Status.CONTINUED_AS_NEW, None, None),
    ev.ExecutionCanceled: _ended_canceled,
}


# -- a failed run -> its next attempt -----------------------------------------------------------


class Retry:
    """A retried sub-orchestration's policy and the number of the running attempt."""

    __slots__ = ("_attempt", "_instance_id", "_policy")

    def __init__(self, instance_id: str, policy: Mapping[str, object], attempt: int) -> None:
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValueError(
                f"instance {instance_id!r}: attempt must be an int >= 1, not {attempt!r}"
            )
        self._instance_id = instance_id
        self._policy = RetryPolicy.from_json(policy)
        self._attempt = attempt

    def after(self, error: ev.ErrorInfo, run_input: str) -> act.ContinueAsNew | None:
        """The next attempt of a run that failed with ``error`` (it starts again from
        ``run_input`` after the policy's delay), or None when the policy gives up.

        A stored policy stops by attempts only, so the elapsed time is not needed.
        """
        jitter = random.Random(f"{self._instance_id}/{self._attempt}").random  # noqa: S311
        delay = self._policy.delay_after(self._attempt, error.error_type, 0.0, random=jitter)
        if delay is None:
            return None
        return act.ContinueAsNew(run_input, (), delay, self._attempt + 1)
