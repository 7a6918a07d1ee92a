"""The records the store seam passes: claims, new instances, instance rows and the filter that
lists them, claimed work, and what an episode commits (the ``Store`` protocol, in ``base``,
takes and returns them; ``durable.stores.base`` re-exports every one).

This module is layer L2: it imports only the vocabulary (L0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .._actions import Action
from .._events import ErrorInfo, HistoryEvent
from .._status import Status


@dataclass(frozen=True, slots=True)
class ClaimSpec:
    """Who claims work and which work it can do."""

    worker_id: str
    lease_seconds: float
    #: orchestrator names this worker can run (instances of other names are left for others)
    orchestrators: frozenset[str] = frozenset()
    #: activity names this worker can run
    activities: frozenset[str] = frozenset()
    #: activity queues this worker serves
    queues: frozenset[str] = frozenset({"default"})


@dataclass(frozen=True, slots=True)
class NewInstance:
    """An instance to create, with its ``ExecutionStarted`` message."""

    instance_id: str
    name: str
    input: str
    parent_instance_id: str | None = None
    parent_task_id: int | None = None
    #: a retry policy (``RetryPolicy.to_json()``) for a sub-orchestration, else None
    retry: dict[str, object] | None = None
    #: flow control (``stores.flow``): tags, the priority and fairness key its activities
    #: inherit, and a delayed start (``start_at``, or ``start_delay`` seconds of the store's
    #: clock: its ``ExecutionStarted`` is visible from then on)
    tags: Mapping[str, str] = field(default_factory=dict)
    priority: int | None = None
    fairness_key: str | None = None
    start_at: datetime | None = None
    start_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """An instance's row. Payloads stay encoded; ``error`` is the failure, or the report of a
    non-determinism that holds a RUNNING instance."""

    instance_id: str
    name: str
    status: Status
    input: str
    output: str | None
    error: ErrorInfo | None
    custom_status: str | None
    created_at: datetime
    updated_at: datetime
    execution_id: int
    version: int
    parent_instance_id: str | None = None
    parent_task_id: int | None = None
    #: the tags it was started with (``stores.flow``)
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InstanceFilter:
    """Which instances ``Store.list_instances`` returns: those matching every filter given
    (None: any), newest first, at most ``limit``.

    A store takes the values as they are: they are checked where a user hands them
    (``Client.list``, the CLI, the dashboard), with errors naming them.
    """

    status: Status | None = None
    #: the orchestrator's name
    name: str | None = None
    #: created strictly after / before (a naive datetime is taken as UTC)
    created_after: datetime | None = None
    created_before: datetime | None = None
    #: untouched since then (for a finished instance: finished before then)
    updated_before: datetime | None = None
    #: carrying every one of these tags (an index serves it); None or empty: any
    tags: Mapping[str, str] | None = None
    limit: int = 100

    def conditions(self) -> list[tuple[str, str, Any]]:
        """The filters given but tags, as ``(column, operator, value)`` of the instances' table:
        a SQL store's WHERE clauses (a status as its value, times as given)."""
        given = [
            ("status", "=", None if self.status is None else Status(self.status).value),
            ("name", "=", self.name),
            ("created_at", ">", self.created_after),
            ("created_at", "<", self.created_before),
            ("updated_at", "<", self.updated_before),
        ]
        return [condition for condition in given if condition[2] is not None]


@dataclass(frozen=True, slots=True)
class Message:
    """One inbox row: a history event waiting to be applied (``seq`` not yet assigned)."""

    id: int
    event: HistoryEvent


@dataclass(frozen=True, slots=True)
class OrchestrationWorkItem:
    """A claimed instance: its visible messages (oldest first), leased to the claimer."""

    instance_id: str
    name: str
    execution_id: int
    version: int
    status: Status
    messages: list[Message]
    #: the store's clock at the claim: the episode time
    now: datetime
    parent_instance_id: str | None = None
    parent_task_id: int | None = None
    #: the sub-orchestration retry policy (``RetryPolicy.to_json()``) and attempt, if any
    retry: dict[str, object] | None = None
    attempt: int = 1
    #: claims of this instance since its last commit, this one included: an episode that
    #: crashed its worker (or ran past the episode timeout) left its claim counted, and the
    #: worker fails the instance past ``max_episode_attempts`` (DESIGN 4a). A commit resets
    #: it; a release takes back the claim released.
    claims: int = 1
    #: why a visible message could not be read (a row durable did not write), else None: the
    #: worker holds the instance with ``HistoryCorrupted`` and serves the others
    unreadable: str | None = None


@dataclass(frozen=True, slots=True)
class EpisodeCommit:
    """What a worker commits for one episode (from the interpreter's ``Episode``)."""

    instance_id: str
    worker_id: str
    execution_id: int
    #: the history version the episode was computed from (the guard)
    expected_version: int
    events: Sequence[HistoryEvent]
    actions: Sequence[Action]
    #: inbox message ids the episode consumed (deleted with the commit)
    consumed: Sequence[int]
    status: Status
    output: str | None = None
    error: ErrorInfo | None = None
    custom_status: str | None = None


@dataclass(frozen=True, slots=True)
class ActivityWorkItem:
    """A claimed activity attempt."""

    id: int
    instance_id: str
    execution_id: int
    task_id: int
    name: str
    input: str
    queue: str
    #: 1 for the first attempt; counts every start, so a crash counts as an attempt
    attempt: int
    #: ``RetryPolicy.to_json()`` of a per-call policy, or None for the registered one
    retry: dict[str, object] | None
    timeout: float | None
    heartbeat_timeout: float | None
    heartbeat_details: str | None
    scheduled_at: datetime
    worker_id: str = field(default="", compare=False)
