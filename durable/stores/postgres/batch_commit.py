"""Committing the common episodes of many instances in one PostgreSQL statement.

Most episodes only record events, schedule activities and timers, and perhaps finish: those of
all the instances a worker commits at once become one statement (one round trip, one WAL
flush), where the transaction of ``postgres.episode`` would take several round trips each. The
guard is the UPDATE of each instance row, and every other write joins its RETURNING, so an
episode the guard refuses writes nothing (and the others still commit). A finishing episode
drops its instance's activities and messages; it is taken here only for an instance with no
parent (telling a parent needs the transaction).

The statement's snapshot predates its own writes, so ``pending`` (messages left for the
instance) reads the inbox less the consumed messages, plus the timers written here that are
due already. A message that another transaction delivers while this statement waits for the
instance row is not in that snapshot: to a finishing instance it stays in the inbox unread (as
a message to a finished instance is dropped), and to a running one it wakes claimers by the
sender's own notification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from ..._errors import StoreError
from ..base import ActivityWorkItem, EpisodeCommit, InstanceRecord, LeaseLost
from ..commit import CommitPlan
from ..rows import dump_error, dump_event
from .activities import activity_values, inserted_activities, leased_item
from .db import ACTIVITIES, ORCHESTRATIONS, Database, Tx, notification_payloads, unnest_columns
from .instances import instance_record

#: the events of a run's first episode that only schedule work (see ``_replayable``)
_FIRST_DECISIONS = frozenset({"ExecutionStarted", "ActivityScheduled", "TimerCreated"})


def inserted_timers(first: int, guard: str) -> str:
    """``INSERT INTO inbox`` the ``TimerFired`` messages passed as one array per value from
    parameter ``$first`` on, for the instances the CTE ``guard`` let through (the statements of
    ``batch_commit``, ``start_commit`` and ``step_commit``)."""
    n = [f"${first + offset}" for offset in range(5)]
    return f"""
    INSERT INTO inbox (instance_id, execution_id, kind, task_id, data, visible_at)
    SELECT t.instance_id, t.execution_id, 'TimerFired', t.task_id, t.data, t.fire_at
    FROM unnest({n[0]}::text[], {n[1]}::int[], {n[2]}::int[], {n[3]}::text[], {n[4]}::timestamptz[])
        AS t(instance_id, execution_id, task_id, data, fire_at)
    JOIN {guard} AS g ON g.instance_id = t.instance_id
    RETURNING instance_id, visible_at"""  # noqa: S608 (constants only)


_COMMIT_MANY = f"""
WITH c AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::text[],
        $7::text[], $8::int[], $9::text[], $10::bool[])
        AS c(instance_id, worker_id, execution_id, expected, output, error, custom_status,
            version, status, finishing)
), guarded AS (
    UPDATE instances AS i SET output = c.output, error = c.error,
        custom_status = c.custom_status, updated_at = now(), version = c.version,
        status = c.status, lease_owner = NULL, lease_expires_at = NULL, claims = 0
    FROM c
    WHERE i.instance_id = c.instance_id AND i.lease_owner = c.worker_id
      AND i.execution_id = c.execution_id AND i.version = c.expected
      AND (NOT c.finishing OR i.parent_instance_id IS NULL)
    RETURNING i.*, c.finishing
), history AS (
    INSERT INTO history (instance_id, seq, kind, data)
    SELECT e.instance_id, e.seq, e.kind, e.data
    FROM unnest($11::text[], $12::int[], $13::text[], $14::text[])
        AS e(instance_id, seq, kind, data)
    JOIN guarded AS g ON g.instance_id = e.instance_id
), consumed AS (
    DELETE FROM inbox AS m USING guarded AS g
    WHERE m.instance_id = g.instance_id AND (m.id = ANY($15::bigint[]) OR g.finishing)
), dropped AS (
    DELETE FROM activities AS a USING guarded AS g
    WHERE g.finishing AND a.instance_id = g.instance_id
), scheduled AS ({inserted_activities(16)}
    JOIN guarded AS g ON g.instance_id = a.instance_id
    RETURNING instance_id, task_id, id, started
), timers AS ({inserted_timers(30, "guarded")}
)
SELECT g.*, now() AS tx_now,
    (SELECT array_agg(ARRAY[s.task_id, s.id]) FROM scheduled AS s
        WHERE s.instance_id = g.instance_id AND s.started) AS leased,
    EXISTS (SELECT 1 FROM inbox AS m WHERE m.instance_id = g.instance_id
            AND m.visible_at <= now() AND NOT m.id = ANY($15::bigint[]))
        OR EXISTS (SELECT 1 FROM timers AS t
            WHERE t.instance_id = g.instance_id AND t.visible_at <= now()) AS pending,
    (SELECT count(pg_notify($35, p)) FROM unnest($36::text[]) AS p) AS notified,
    (SELECT set_config('synchronous_commit', 'off', true) WHERE $37) AS no_flush
FROM guarded AS g
"""  # noqa: S608 (constants only)


@dataclass(frozen=True)
class Entry:
    """One episode to commit, and its plan (``CommitPlan.simple``: what this statement writes;
    made without the row's facts, which the statement's guard stands for)."""

    commit: EpisodeCommit
    plan: CommitPlan


@dataclass
class Rows:
    """The statement's rows, per ``unnest``: the commits, events, activities and timers."""

    commits: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    consumed: list[int] = field(default_factory=list)
    activities: list[tuple[Any, ...]] = field(default_factory=list)
    timers: list[tuple[Any, ...]] = field(default_factory=list)
    #: per plan added, the values of its activities leased to their claimer (in order)
    leases: list[list[tuple[Any, ...]]] = field(default_factory=list)
    #: whether any activity is left for any claimer (the activity claimers are told)
    unclaimed: bool = False
    #: the instances that finish (their waiters are told)
    finished: list[str] = field(default_factory=list)

    def add_work(self, plan: CommitPlan) -> None:
        """Add ``plan``'s events, consumed messages, activities and timers, and what its
        commit must tell: its leased activities (``leases``), unclaimed work, its end."""
        id_, run = plan.instance_id, plan.execution_id
        self.events.extend((id_, e.seq, e.kind, dump_event(e)) for e in plan.history)
        self.consumed.extend(plan.consumed)
        leased: list[tuple[Any, ...]] = []
        for activity in plan.activities:
            values = activity_values(id_, run, activity.action, activity.claimer)
            self.activities.append(values)
            if activity.claimer is None:
                self.unclaimed = True
            else:
                leased.append(values)
        self.leases.append(leased)
        for timer in plan.timers:
            self.timers.append((id_, run, timer.task_id, dump_event(timer), timer.timestamp))
        if plan.finishing:
            self.finished.append(id_)

    def wake(self, tx: Tx) -> None:
        """This process's wake-ups once the statement wrote every plan: new timers (the idle
        claimer takes their due time into account) and unclaimed activities."""
        tx.due = bool(self.timers)
        if tx.due:
            tx.work.add(ORCHESTRATIONS)
        if self.unclaimed:
            tx.work.add(ACTIVITIES)

    def notifications(self, tx: Tx) -> list[str]:
        """The statement's NOTIFY payloads: new unclaimed activities, finished instances."""
        if not (self.unclaimed or self.finished):
            return []
        return notification_payloads(
            tx.token, [ACTIVITIES] if self.unclaimed else [], self.finished
        )


async def commit_many(
    tx: Tx, entries: list[Entry], finished_records: dict[str, InstanceRecord]
) -> list[list[ActivityWorkItem] | None]:
    """Commit the episodes of ``entries`` (distinct instances, each one that ``fits``) in one
    statement. For each, the activities leased to its ``eager`` claimer, or None when nothing
    was written for it (its guard refused, or it has a parent to tell): the transaction of
    ``postgres.episode`` then commits it, or says why not. The rows of the instances that finished
    go to ``finished_records``.

    Raises ``LeaseLost`` when a history row exists already (the split-brain guard): the
    statement then wrote nothing for any of them.
    """
    rows = Rows()
    for entry in entries:
        commit, plan = entry.commit, entry.plan
        rows.commits.append(
            (
                plan.instance_id,
                commit.worker_id,
                plan.execution_id,
                commit.expected_version,
                plan.output,
                dump_error(plan.error),
                plan.custom_status,
                plan.version,
                plan.status.value,
                plan.finishing,
            ),
        )
        rows.add_work(plan)
    notify = rows.notifications(tx)
    no_flush = all(_replayable(entry.commit) for entry in entries)
    try:
        committed_rows = await tx.conn.fetch(
            _COMMIT_MANY,
            *unnest_columns(rows.commits, 10),
            *unnest_columns(rows.events, 4),
            rows.consumed,
            *unnest_columns(rows.activities, 14),
            *unnest_columns(rows.timers, 5),
            tx.channel,
            notify,
            no_flush,
        )
    except asyncpg.UniqueViolationError as exc:
        where = ", ".join(repr(entry.commit.instance_id) for entry in entries)
        raise LeaseLost(f"instance {where}: history seq already written by another worker") from exc
    committed = {row["instance_id"]: row for row in committed_rows}
    results: list[list[ActivityWorkItem] | None] = []
    for entry, leased in zip(entries, rows.leases, strict=True):
        row = committed.get(entry.commit.instance_id)
        if row is None:
            results.append(None)
            continue
        tx.now = row["tx_now"]
        results.append(read_written(tx, row, entry.plan, leased, finished_records))
    rows.wake(tx)
    return results


def read_written(
    tx: Tx,
    row: Any,
    plan: CommitPlan,
    leased: list[tuple[Any, ...]],
    finished_records: dict[str, InstanceRecord],
) -> list[ActivityWorkItem]:
    """What a statement wrote for one instance's episode (its returned ``row``): the wake-ups it
    owes (a finished instance's waiters are told by the statement elsewhere, woken here), and
    the work items of the activities leased to the committing worker."""
    if plan.status.is_terminal:
        tx.instances.add(plan.instance_id)
        finished_records[plan.instance_id] = instance_record(row)
    elif row["pending"]:
        tx.work.add(ORCHESTRATIONS)
    ids = dict(row["leased"] or ())  # task id: activity id
    return [leased_item(values, ids[values[2]], row["tx_now"]) for values in leased]


def _replayable(commit: EpisodeCommit) -> bool:
    """Whether the commit may skip waiting for its WAL flush: a run's first episode that only
    schedules work records nothing but what replaying its durable start message decides again.
    Lost in a crash of the server (before any later commit flushed it), the instance is as it
    was created and runs again from its start; an activity it scheduled may then run twice,
    as activities may after any crash. Anything that records a result or finishes the run
    waits for the flush, and the flush of a later commit makes this one durable too."""
    return not commit.status.is_terminal and all(
        event.kind in _FIRST_DECISIONS for event in commit.events
    )


async def commit_batch(
    db: Database,
    entries: list[Entry],
    keep: Callable[[dict[str, InstanceRecord]], None],
) -> list[list[ActivityWorkItem] | Exception | None]:
    """``commit_many`` in an operation of its own; one by one after a ``LeaseLost`` (which
    names no instance), so that it reaches only its own. ``keep`` gets the finished rows."""

    async def commit(batch: list[Entry]) -> list[list[ActivityWorkItem] | None]:
        finished: dict[str, InstanceRecord] = {}
        committed = await db.run(
            lambda tx: commit_many(tx, batch, finished), "commit_episode", atomic=False
        )
        keep(finished)
        return committed

    try:
        return list(await commit(entries))
    except LeaseLost:
        if len(entries) == 1:
            raise
    results: list[list[ActivityWorkItem] | Exception | None] = []
    for entry in entries:
        try:
            results.extend(await commit([entry]))
        except StoreError as exc:
            results.append(exc)
    return results
