"""Poison episodes (DESIGN 4a): an instance whose episodes crash the worker, or run past the
episode timeout, ``max_episode_attempts`` times in a row ends FAILED instead of crash-looping.

The store counts an instance's claims since its last commit (``OrchestrationWorkItem.claims``),
and a crash cannot undo a claim, so the count survives the process it killed. Past the cap the
worker runs none of the instance's code: it commits the end decided here, from the claim alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .. import _actions as act
from .. import _events as ev
from .._core.entity_calls import unreleased_locks
from .._status import Status
from ..stores.base import EpisodeCommit, OrchestrationWorkItem

#: the recorded type of the failure (``InstanceStatus.error.error_type``)
ERROR_TYPE = "durable.PoisonEpisode"


def exhausted(item: OrchestrationWorkItem, max_attempts: int) -> bool:
    """True when the claim ``item`` follows ``max_attempts`` episodes that never came back."""
    return item.claims > max_attempts


def failure(item: OrchestrationWorkItem, max_attempts: int) -> ev.ErrorInfo:
    return ev.ErrorInfo(
        ERROR_TYPE,
        f"instance {item.instance_id!r} failed: its episode crashed the worker or ran past the "
        f"episode timeout {item.claims - 1} times in a row (max_episode_attempts={max_attempts})",
    )


def poisoned_end(
    item: OrchestrationWorkItem,
    worker_id: str,
    max_attempts: int,
    history: Sequence[ev.HistoryEvent] = (),
) -> EpisodeCommit:
    """The commit that ends the claimed run FAILED: its start (if the run never committed one)
    then ``ExecutionFailed``; every visible message is consumed, and the entity locks the run's
    ``history`` holds are given back."""
    error = failure(item, max_attempts)
    events: list[ev.HistoryEvent] = []
    seq = item.version
    if seq == 0:
        start = next(
            (m.event for m in item.messages if isinstance(m.event, ev.ExecutionStarted)), None
        )
        if start is not None:
            events.append(_stamped(start, seq, item))
            seq += 1
    events.append(_stamped(ev.ExecutionFailed(error=error), seq, item))
    return EpisodeCommit(
        instance_id=item.instance_id,
        worker_id=worker_id,
        execution_id=item.execution_id,
        expected_version=item.version,
        events=events,
        actions=[*unreleased_locks(history), act.Fail(error)],
        consumed=[m.id for m in item.messages],
        status=Status.FAILED,
        error=error,
    )


def _stamped(event: ev.HistoryEvent, seq: int, item: OrchestrationWorkItem) -> ev.HistoryEvent:
    return replace(event, seq=seq, timestamp=item.now)
