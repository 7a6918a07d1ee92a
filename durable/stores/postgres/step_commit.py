"""An activity's result and its instance's next episode, many instances in one statement.

A worker that ran an activity decides the instance's next episode before it records the result
(``Store.complete_activity`` with ``then``). The result went to the inbox in a statement that
also leased the instance, and the episode followed in a second: two round trips per step. When
the episode's plan is ``simple``, one statement does it all here, for every instance whose
results are recorded at that moment:

* the attempts' rows go, if the attempts still hold them;
* the instance row takes the episode (its new status, outcome and version) only if every
  attempt held, nobody holds the instance, and it is exactly where the episode was decided: the
  same run and version, neither finished nor suspended, and no visible message waiting (which
  the episode would have had to take first) in the statement's snapshot;
* the history, activities and timers join the rows that update returns, so a refused episode
  writes nothing; its results go to the inbox instead, for a claimer (and other processes are
  told).

A message another transaction delivers while this statement waits for the instance row is not in
its snapshot: it stays in the inbox and its sender's notification wakes a claimer. The end of a
child tells its parent, which needs the row's facts: such an entry (a child's row says it has a
parent, which never changes) is declined before anything is written, and the caller takes the
two-statement way. The statement waits for its WAL flush (it records results).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from ..._events import ActivityCompleted
from ..base import ActivityWorkItem, EpisodeCommit, InstanceRecord
from ..commit import CommitPlan
from ..rows import dump_error
from .activities import inserted_activities
from .batch_commit import Rows, inserted_timers, read_written
from .db import ACTIVITIES, ORCHESTRATIONS, Database, Tx, unnest_columns
from .instances import NOW_TEXT, TERMINAL, stamped_by_database

_STEP_MANY = f"""
WITH c AS (
    SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::text[], $6::text[],
        $7::int[], $8::text[], $9::bool[], $10::int[]) WITH ORDINALITY
        AS c(instance_id, execution_id, expected, output, error, custom_status, version,
            status, finishing, attempts, entry)
), declined AS (
    SELECT c.entry FROM c JOIN instances AS i ON i.instance_id = c.instance_id
    WHERE c.finishing AND i.parent_instance_id IS NOT NULL
), f AS (
    SELECT * FROM unnest($11::bigint[], $12::text[], $13::int[], $14::bigint[], $15::text[],
            $16::text[], $17::text[])
        AS f(id, owner, attempt, entry, kind, before, after)
    WHERE f.entry NOT IN (SELECT entry FROM declined)
), finished AS (
    DELETE FROM activities AS a USING f
    WHERE a.id = f.id AND a.lease_owner = f.owner AND a.attempt = f.attempt
    RETURNING a.id, a.instance_id, a.execution_id, a.task_id, f.kind, f.before, f.after, f.entry
), guarded AS (
    UPDATE instances AS i SET output = c.output, error = c.error,
        custom_status = c.custom_status, updated_at = now(), version = c.version,
        status = c.status, lease_owner = NULL, lease_expires_at = NULL, claims = 0
    FROM c
    WHERE i.instance_id = c.instance_id AND c.entry NOT IN (SELECT entry FROM declined)
      AND (SELECT count(*) FROM finished WHERE finished.entry = c.entry) = c.attempts
      AND (i.lease_owner IS NULL OR i.lease_expires_at <= now()) AND i.ready_at <= now()
      AND i.execution_id = c.execution_id AND i.version = c.expected
      AND NOT i.status = ANY($18::text[]) AND i.status <> 'SUSPENDED'
      AND NOT EXISTS (SELECT 1 FROM inbox AS m
          WHERE m.instance_id = i.instance_id AND m.visible_at <= now())
      AND (NOT c.finishing OR i.parent_instance_id IS NULL)
    RETURNING i.*, c.entry, c.finishing
), message AS (
    INSERT INTO inbox (instance_id, execution_id, kind, task_id, data, visible_at)
    SELECT instance_id, execution_id, kind, task_id, before || {NOW_TEXT} || after, now()
    FROM finished WHERE finished.entry NOT IN (SELECT entry FROM guarded)
    RETURNING id
), history AS (
    INSERT INTO history (instance_id, seq, kind, data)
    SELECT e.instance_id, e.seq, e.kind, e.data
    FROM unnest($19::text[], $20::int[], $21::text[], $22::text[])
        AS e(instance_id, seq, kind, data)
    JOIN guarded AS g ON g.instance_id = e.instance_id
), dropped_messages AS (
    DELETE FROM inbox AS m USING guarded AS g
    WHERE g.finishing AND m.instance_id = g.instance_id
), dropped AS (
    DELETE FROM activities AS a USING guarded AS g
    WHERE g.finishing AND a.instance_id = g.instance_id AND NOT a.id = ANY($11::bigint[])
), scheduled AS ({inserted_activities(23)}
    JOIN guarded AS g ON g.instance_id = a.instance_id
    RETURNING instance_id, task_id, id, started
), timers AS ({inserted_timers(37, "guarded")}
)
SELECT c.entry, g.*, now() AS tx_now,
    c.entry IN (SELECT entry FROM declined) AS declined,
    (SELECT array_agg(finished.id) FROM finished WHERE finished.entry = c.entry) AS held,
    (SELECT array_agg(ARRAY[s.task_id, s.id]) FROM scheduled AS s
        WHERE s.instance_id = g.instance_id AND s.started) AS leased,
    EXISTS (SELECT 1 FROM timers AS t
        WHERE t.instance_id = g.instance_id AND t.visible_at <= now()) AS pending,
    (SELECT count(pg_notify($42, p)) FROM unnest($43::text[]) AS p
        WHERE EXISTS (SELECT 1 FROM guarded)) AS told_taken,
    (SELECT pg_notify($42, $44) WHERE EXISTS (SELECT 1 FROM message)) AS told_results
FROM c LEFT JOIN guarded AS g ON g.entry = c.entry
ORDER BY c.entry
"""  # noqa: S608 (constants only)


@dataclass(frozen=True)
class Step:
    """The results of one instance's attempts (``done``, in order), and the next episode
    decided from them (``then``) with its plan (``fits``)."""

    done: Sequence[tuple[ActivityWorkItem, str]]
    then: EpisodeCommit
    plan: CommitPlan


#: a step's outcome: whether its first attempt's result was recorded, and the activities
#: leased to the worker when the episode committed (None: the results went to the inbox); or
#: None when the entry was declined (nothing written: see the module's docstring)
Outcome = tuple[bool, list[ActivityWorkItem] | None] | None


def fits(plan: CommitPlan) -> bool:
    """Whether this statement can commit ``plan`` with the results it records (the episode
    after results consumes no stored message)."""
    return plan.simple and not plan.consumed


async def step_many(
    tx: Tx, steps: list[Step], finished_records: dict[str, InstanceRecord]
) -> list[Outcome]:
    """Record the results of ``steps`` (distinct instances) with their next episodes, in one
    statement (see the module's docstring). The rows of the instances that finished go to
    ``finished_records``; a history row written already (the split-brain guard) declines
    them all (the statement wrote nothing)."""
    rows = Rows()
    commits: list[tuple[Any, ...]] = []
    attempts: list[tuple[Any, ...]] = []
    for entry, step in enumerate(steps, start=1):
        then, plan = step.then, step.plan
        commits.append(
            (
                plan.instance_id,
                plan.execution_id,
                then.expected_version,
                plan.output,
                dump_error(plan.error),
                plan.custom_status,
                plan.version,
                plan.status.value,
                plan.finishing,
                len(step.done),
            )
        )
        for item, result in step.done:
            event = ActivityCompleted(task_id=item.task_id, result=result)
            before, after = stamped_by_database(event)
            attempts.append(
                (item.id, item.worker_id, item.attempt, entry, event.kind, before, after)
            )
        rows.add_work(plan)
    taken = rows.notifications(tx)
    try:
        result_rows = await tx.conn.fetch(
            _STEP_MANY,
            *unnest_columns(commits, 10),
            *unnest_columns(attempts, 7),
            TERMINAL,
            *unnest_columns(rows.events, 4),
            *unnest_columns(rows.activities, 14),
            *unnest_columns(rows.timers, 5),
            tx.channel,
            taken,
            tx.payload([ORCHESTRATIONS], []),
        )
    except asyncpg.UniqueViolationError:
        return [None] * len(steps)
    outcomes: list[Outcome] = []
    for step, leased, row in zip(steps, rows.leases, result_rows, strict=True):
        tx.now = row["tx_now"]
        if row["declined"]:
            outcomes.append(None)
            continue
        ended = set(row["held"] or ())
        recorded = step.done[0][0].id in ended
        if row["instance_id"] is None:  # refused: the results wait in the inbox
            if ended:
                tx.work.add(ORCHESTRATIONS)
            outcomes.append((recorded, None))
            continue
        outcomes.append((recorded, read_written(tx, row, step.plan, leased, finished_records)))
        if rows.timers:  # new timers: the idle claimer wakes to take their due time in
            tx.due = True
            tx.work.add(ORCHESTRATIONS)
    if rows.unclaimed:
        tx.work.add(ACTIVITIES)
    return outcomes


async def step_batch(
    db: Database, steps: list[Step], keep: Callable[[dict[str, InstanceRecord]], None]
) -> list[Outcome]:
    """``step_many`` in an operation of its own; ``keep`` gets the finished rows."""
    finished: dict[str, InstanceRecord] = {}
    outcomes = await db.run(
        lambda tx: step_many(tx, steps, finished), "complete_activity", atomic=False
    )
    keep(finished)
    return outcomes
