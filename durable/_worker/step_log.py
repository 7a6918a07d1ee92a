"""What the worker's steps tell the operator: their log lines and their spans.

Kept apart from ``steps`` so that the steps read as decisions and store calls; the wording of
each line is here, one place to keep it naming the instance, the task and the lease.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import _actions as act
from .. import _events as ev
from .._status import Status
from .._telemetry import TELEMETRY
from ..stores.base import ActivityWorkItem
from .episodes import Decided

logger = logging.getLogger("durable.worker")


def stale(item: ActivityWorkItem, answer: tuple[bool, Any] | None) -> None:
    """One WARNING when the store refused an attempt's outcome: its lease had passed on."""
    if answer is None or answer[0] is not False:
        return
    TELEMETRY.lease_expired(kind="activity")
    logger.warning(
        "stale lease: the outcome of activity %s (instance %s, task %d, attempt %d) was "
        "dropped: this worker's lease (%s) had passed to another worker, whose outcome counts",
        item.name,
        item.instance_id,
        item.task_id,
        item.attempt,
        item.worker_id,
        extra=fields(item),
    )


def fields(item: ActivityWorkItem) -> dict[str, str]:
    return {"instance_id": item.instance_id, "activity": item.name}


def attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def trace(decided: Decided) -> None:
    """The span of a committed episode (a replay commits nothing new, so emits nothing)."""
    if not TELEMETRY.enabled:  # the usual case: nothing to compute
        return
    commit = decided.commit
    began = commit.events[0].timestamp.timestamp() if commit.events else None
    TELEMETRY.episode(
        decided.name, commit.instance_id, commit.expected_version, began, len(commit.events)
    )


def log_outcome(decided: Decided) -> None:
    """One line when an instance starts or ends (its episodes in between are not news)."""
    commit, episode = decided.commit, decided.episode
    if (  # the common episode: neither a start, an end nor a rewind
        episode.status is Status.RUNNING
        and commit.expected_version
        and not any(isinstance(e, ev.ExecutionRewound) for e in episode.events)
    ):
        return
    log = {"instance_id": commit.instance_id}
    if commit.expected_version == 0 and not episode.status.is_terminal:
        logger.info("instance %s (%s) started", commit.instance_id, decided.name, extra=log)
    rewound = next((e for e in episode.events if isinstance(e, ev.ExecutionRewound)), None)
    if rewound is not None:
        logger.info(
            "instance %s rewound: history events %d..%d set aside",
            commit.instance_id,
            rewound.cut,
            rewound.seq - 1,
            extra=log,
        )
    if episode.status is Status.FAILED:
        message = episode.error.message if episode.error is not None else ""
        logger.warning("instance %s failed: %s", commit.instance_id, message, extra=log)
    elif episode.status is Status.CONTINUED_AS_NEW and episode.error is not None:
        restart = next(a for a in episode.actions if isinstance(a, act.ContinueAsNew))
        logger.info(
            "sub-orchestration %s failed (attempt %d), retrying in %.2f s: %s",
            commit.instance_id,
            (restart.attempt or 2) - 1,
            restart.delay,
            episode.error.message,
            extra=log,
        )
    elif episode.status.is_terminal or episode.status is Status.CONTINUED_AS_NEW:
        status = episode.status.value.lower().replace("_", " ")
        logger.info("instance %s %s", commit.instance_id, status, extra=log)
