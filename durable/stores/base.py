"""The store seam: the one interface workers and clients use, whatever the database.

A store keeps, per instance: a row (status, input, output, lease, history version, execution id),
its append-only history, and an inbox of messages (history events waiting to be applied: the
start, activity results, due timers, raised events, control requests). Activity attempts are
rows of their own, claimed by workers serving their queue.

Guarantees every implementation keeps (the conformance suite in tests/ checks each one):

* An episode commits in ONE transaction: its history events, consumed messages, new activity
  rows, timers, children, sent events and the instance's status. It is guarded by the instance's
  history version and the worker's lease: a stale worker can never commit over a newer one
  (``LeaseLost``), and the history's primary key ``(instance_id, seq)`` refuses a duplicate.
* Work is claimed with a lease (``ClaimSpec.lease_seconds``) that the owner renews; an expired
  lease makes the work claimable by another worker. Lease expiry and due times are computed with
  the store's own clock, never a worker's.
* Timers are inbox messages (``TimerFired``) that become visible at their due time.
* An activity's result is recorded at most once: the first completion wins, later ones (from an
  attempt whose lease was lost) are dropped and reported as ``False``.
* Transient errors (SQLite busy, a dropped connection) are retried; other failures raise
  ``StoreError`` naming the store and chaining the driver's error.

The records the protocol takes and returns (``ClaimSpec``, ``InstanceRecord``,
``InstanceFilter``...) are defined in ``records`` and importable from here.

This module is layer L2: it imports only the vocabulary (L0), never the interpreter.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal, Protocol, runtime_checkable

from .._errors import StoreError
from .._events import ErrorInfo, HistoryEvent
from .._text import MAX_ID_LENGTH, check_id
from .control import ControlStore
from .dumps import InstanceDump
from .flow import FlowControl
from .outputs import OutputStore
from .records import (
    ActivityWorkItem,
    ClaimSpec,
    EpisodeCommit,
    InstanceFilter,
    InstanceRecord,
    Message,
    NewInstance,
    OrchestrationWorkItem,
)
from .workers import WorkerRegistry


class LeaseLost(StoreError):
    """The work's lease passed to another worker, or the history moved on: the commit is refused.

    The worker drops the work (and its cached generator) and goes on; nothing was written.
    """


#: the kinds of claimable work (``Store.wait_for_work``)
WorkKind = Literal["orchestrations", "activities"]


@runtime_checkable
class Store(WorkerRegistry, OutputStore, ControlStore, FlowControl, Protocol):
    """The operations workers and clients need; every backend implements all of them."""

    #: the store's URL with any password removed (safe to log)
    display_url: str
    #: concurrent claim loops per kind of work that suit this backend (each idle one costs a
    #: claim per wake-up; several let SQLite's group commit batch their claims)
    claim_concurrency: int

    async def open(self) -> None:
        """Connect, and create or migrate the schema (refusing a newer or foreign schema)."""

    async def close(self) -> None:
        """Release connections. Idempotent."""

    # -- instances -----------------------------------------------------------------------------

    async def create_instance(self, new: NewInstance) -> bool:
        """Create a PENDING instance and its ``ExecutionStarted`` message, atomically.

        Returns False, writing nothing, when the id is taken (by an instance in any status).
        """

    async def start_instance(
        self, new: NewInstance, first: EpisodeCommit, *, eager: ClaimSpec, eager_limit: int = 0
    ) -> list[ActivityWorkItem] | None:
        """Create a new instance with its first episode committed, in one transaction.

        ``first`` was decided by ``eager``'s worker before the call (from ``ExecutionStarted``
        alone, at version 0, consuming that message); it commits as if that worker had claimed
        the instance, and up to ``eager_limit`` of the activities it schedules are claimed for
        ``eager``. Returns those activities, or None, writing nothing, when the id is taken.
        """

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """The instance's row, or None."""

    async def list_instances(self, where: InstanceFilter) -> list[InstanceRecord]:
        """The instances ``where`` selects, newest first (see ``InstanceFilter``)."""

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        """The current run's history in ``seq`` order (empty for an unknown id)."""

    async def send_message(self, instance_id: str, event: HistoryEvent) -> None:
        """Append a message (a raised event or a control request) to the instance's inbox.

        Raises ``InstanceNotFound`` when there is no such instance; a message to a finished
        instance is dropped (nothing would take it).
        """

    async def purge_instance(self, instance_id: str) -> int:
        """Delete a finished instance and its sub-orchestrations, recursively, each with its
        history, inbox and rows, atomically; returns how many instances went (0: no such id).

        ``DurableError`` (nothing deleted) when the instance, or a sub-orchestration under it,
        has not finished: a purge never stops anything that runs.
        """

    async def export_instances(
        self, *, after: str | None = None, limit: int = 100
    ) -> list[InstanceDump]:
        """Up to ``limit`` whole instances with ids greater than ``after``, in id order.

        Each instance is read in one consistent snapshot (its row, history, inbox, activities),
        so an export taken while workers run is a set of consistent instances.
        """

    async def import_instances(self, dumps: Sequence[InstanceDump]) -> list[str]:
        """Write instances exactly as dumped (without leases), in one transaction.

        Returns the ids skipped because an instance with that id exists already (they are left
        untouched); the others are written.
        """

    # -- orchestration work --------------------------------------------------------------------

    async def claim_orchestration(self, spec: ClaimSpec) -> OrchestrationWorkItem | None:
        """Lease one instance that has visible messages and whose name ``spec`` can run.

        A finished instance is never claimed; a SUSPENDED one only for a control message
        (``ExecutionResumed``/``Terminated``/``Suspended``): its other messages wait.

        The claim counts (``OrchestrationWorkItem.claims`` + 1) and the count lasts even if the
        claimer dies: a commit resets it, a release takes this claim back. An instance with an
        unreadable message is claimed too, with ``unreadable`` saying why, so it cannot block
        the others.
        """

    async def commit_episode(
        self, commit: EpisodeCommit, *, eager: ClaimSpec | None = None, eager_limit: int = 0
    ) -> list[ActivityWorkItem]:
        """Commit one episode atomically (see the module docstring) and release the lease.

        The actions are carried out in the same transaction: ``ScheduleActivity`` inserts an
        activity row; ``StartTimer`` a ``TimerFired`` message visible at ``fire_at``;
        ``CancelTimer`` deletes it; ``StartChild`` creates the child instance (if the id is taken,
        a ``SubOrchestrationFailed`` message goes to this instance instead); ``SendEvent`` appends
        an ``EventRaised`` message to the target (dropped when it does not exist);
        ``ContinueAsNew`` starts the next run: new execution id, history cleared, version 0,
        input replaced, ``ExecutionStarted`` and the carried-over events as messages, pending
        activity rows and timers of the old run deleted. On a terminal status, pending activity
        rows and timers are deleted, a parent is sent ``SubOrchestrationCompleted``/``Failed``,
        and TERMINATED is passed on to running children as ``ExecutionTerminated`` messages.

        With ``eager``, up to ``eager_limit`` of the activity rows this commit created that
        ``eager`` can run are claimed for it in the same transaction and returned.

        Raises ``LeaseLost`` (nothing written) when the lease is not ``commit.worker_id``'s any
        more or the instance's version is not ``commit.expected_version``.
        """

    async def release_orchestration(
        self,
        instance_id: str,
        worker_id: str,
        *,
        retry_in: float = 0.0,
        error: ErrorInfo | None = None,
    ) -> None:
        """Give a claimed instance back without committing; it is claimable after ``retry_in``.

        ``error`` (e.g. a non-determinism report) is shown in the instance's status, which stays
        as it is; it is cleared by the next committed episode. The claim being given back no
        longer counts (``OrchestrationWorkItem.claims`` - 1): the episode did not crash its
        worker.
        """

    # -- activities ----------------------------------------------------------------------------

    async def claim_activity(self, spec: ClaimSpec) -> ActivityWorkItem | None:
        """Lease one visible activity row whose queue and name ``spec`` serves; attempt += 1."""

    async def complete_activity(
        self,
        item: ActivityWorkItem,
        result: str,
        *,
        more: Sequence[tuple[ActivityWorkItem, str]] = (),
        then: EpisodeCommit | None = None,
        eager: ClaimSpec | None = None,
        eager_limit: int = 0,
    ) -> tuple[bool, list[ActivityWorkItem] | None]:
        """Record the result: delete the row and hand ``ActivityCompleted`` to the instance.

        ``more``: other completed attempts of the same instance and run, recorded in the same
        transaction (each only if its lease holds). Returns ``(False, None)``, writing nothing
        for it, when ``item``'s lease was lost.

        ``then``: the instance's next episode, decided by the caller before the call from its
        cached generator with these completions (``item``'s, then ``more``'s, in order) as its
        only new messages. It commits with them, atomically (one step, one transaction), only
        when every attempt's lease held and the instance is exactly as the caller saw it: not
        leased to anyone, at ``then.execution_id`` and ``then.expected_version``, and with no
        other visible message waiting. Then the result is ``(True, eager)``: the activities of
        that episode claimed for ``eager`` (up to ``eager_limit``; ``eager`` is the deciding
        worker's claim, and ``then`` is ignored without it). Otherwise the completions go to
        the inbox like any message and the result is ``(True, None)``: the caller drops the
        generator that decided ``then``.
        """

    async def fail_activity(
        self, item: ActivityWorkItem, error: ErrorInfo, *, retry_in: float | None
    ) -> bool:
        """Record a failed attempt; False (nothing written) when the lease was lost.

        ``retry_in`` seconds: the row becomes visible again after that delay for the next
        attempt. None: the policy gave up; delete the row and send ``ActivityFailed`` (with
        ``attempts=item.attempt``) to the instance.
        """

    async def heartbeat_activity(
        self, item: ActivityWorkItem, details: str | None, lease_seconds: float
    ) -> bool:
        """Renew the attempt's lease and keep ``details`` for the next attempt. False if lost."""

    async def renew_leases(
        self,
        worker_id: str,
        lease_seconds: float,
        *,
        instances: Collection[str] = (),
        activities: Collection[int] = (),
    ) -> None:
        """Extend ``worker_id``'s leases on these instances and activity rows (ids).

        Only the work named is renewed: a lease the worker holds without knowing it (an
        operation whose commit went through but whose reply was lost) runs out, and the work
        goes to another claimer.
        """

    async def expire_unstarted(self) -> int:
        """Fail activities whose ``schedule_to_start_timeout`` passed before any attempt started.

        Each gets an ``ActivityFailed`` message with error type ``durable.TaskTimeout``. Returns
        how many were failed.
        """

    # -- waiting -------------------------------------------------------------------------------

    async def wait_for_work(self, timeout: float, kind: WorkKind | None = None) -> None:
        """Return when new work may be claimable (at the latest after ``timeout`` seconds, or
        sooner when a message or activity becomes due).

        ``kind``: the caller claims only this kind of work, so work of the other kind need not
        wake it (a store may wake it all the same).
        """

    def instance_mark(self, instance_id: str) -> int:
        """A mark of the wake-ups for this instance so far, for ``wait_for_instance(since=)``."""

    async def wait_for_instance(
        self, instance_id: str, timeout: float, since: int | None = None
    ) -> None:
        """Return when the instance's status may have changed (at the latest after ``timeout``).

        Finishing the instance in another process must wake it too, promptly (a notification,
        or a poll the store shares between its waiters): ``InstanceHandle.result()`` waits on it.
        ``since``: an ``instance_mark`` taken earlier; return at once if a wake-up for the
        instance came after it (so a caller that took the mark before starting the instance
        need not read it before waiting).
        """


def check_instance_id(instance_id: object, what: str = "instance_id") -> str:
    """Validate an id at the call site: a non-empty str of at most ``MAX_ID_LENGTH`` chars,
    with no NUL and no lone surrogate (see ``durable._text``)."""
    return check_id(instance_id, what)


__all__ = [
    "MAX_ID_LENGTH",
    "ActivityWorkItem",
    "ClaimSpec",
    "Collection",
    "EpisodeCommit",
    "InstanceFilter",
    "InstanceRecord",
    "LeaseLost",
    "Message",
    "NewInstance",
    "OrchestrationWorkItem",
    "Store",
    "WorkKind",
    "check_instance_id",
]
