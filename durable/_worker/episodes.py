"""From the interpreter's Episode to the store's EpisodeCommit (pure; the worker does the I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from .. import _actions as act
from .. import _events as ev
from .._core.interpreter import Episode
from .._status import Status
from ..stores.base import EpisodeCommit, OrchestrationWorkItem


def commit_of(item: OrchestrationWorkItem, episode: Episode, worker_id: str) -> EpisodeCommit:
    """The commit of ``episode``, computed from ``item``: deferred messages stay in the inbox."""
    deferred = set(episode.deferred)
    return EpisodeCommit(
        instance_id=item.instance_id,
        worker_id=worker_id,
        execution_id=item.execution_id,
        expected_version=item.version,
        events=episode.events,
        actions=episode.actions,
        consumed=[m.id for i, m in enumerate(item.messages) if i not in deferred],
        status=episode.status,
        output=episode.output,
        error=episode.error,
        custom_status=episode.custom_status,
    )


def as_retry(episode: Episode, run_input: str, delay: timedelta, next_attempt: int) -> Episode:
    """A failed sub-orchestration run rewritten to run again from ``run_input`` after ``delay``.

    The run continues as new (its history is replaced) counting ``next_attempt``; its parent
    hears only of the final outcome.
    """
    restart = act.ContinueAsNew(run_input, (), delay.total_seconds(), next_attempt)
    failed = episode.events[-1]
    ended = ev.ExecutionContinuedAsNew(seq=failed.seq, timestamp=failed.timestamp, input=run_input)
    actions = [restart if isinstance(a, act.Fail) else a for a in episode.actions]
    return replace(
        episode,
        events=[*episode.events[:-1], ended],
        actions=actions,
        status=Status.CONTINUED_AS_NEW,
    )
