"""Starting instances with their first episodes, many in one PostgreSQL statement.

A client and a worker in one process start an instance with its first episode decided here
(``Store.start_instance``). Creating the row (leased to the worker) and then committing the
episode took two statements, two round trips; when the episode's plan is ``simple`` (it only
records events, schedules activities and timers, and perhaps finishes), one statement does
both: the row is inserted as the episode leaves it (its status, outcome and version, no lease),
and the history, activities and timers join the rows the insert returns, so an id that is
taken writes nothing. The ``ExecutionStarted`` message that a claimer would have read never
goes to the inbox: the episode records it in the history.

The statement waits for its WAL flush (it creates the instance, which ``start()`` promises).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..base import ActivityWorkItem, EpisodeCommit, InstanceRecord, NewInstance
from ..commit import CommitPlan
from ..rows import dump_error, dump_json
from .activities import inserted_activities
from .batch_commit import Rows, inserted_timers, read_written
from .db import Database, Tx, unnest_columns

_START_MANY = f"""
WITH new AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::text[], $7::text[], $8::text[], $9::text[], $10::int[]) WITH ORDINALITY
        AS n(instance_id, name, input, retry, start_token, status, output, error, custom_status,
            version, position)
), created AS (
    INSERT INTO instances (instance_id, name, status, input, output, error, custom_status,
        created_at, updated_at, execution_id, version, retry, start_token)
    SELECT instance_id, name, status, input, output, error, custom_status, now(), now(), 1,
        version, retry, start_token
    FROM new
    ON CONFLICT (instance_id) DO NOTHING
    RETURNING *
), history AS (
    INSERT INTO history (instance_id, seq, kind, data)
    SELECT e.instance_id, e.seq, e.kind, e.data
    FROM unnest($11::text[], $12::int[], $13::text[], $14::text[])
        AS e(instance_id, seq, kind, data)
    JOIN created AS g ON g.instance_id = e.instance_id
), scheduled AS ({inserted_activities(15)}
    JOIN created AS g ON g.instance_id = a.instance_id
    RETURNING instance_id, task_id, id, started
), timers AS ({inserted_timers(29, "created")}
)
SELECT g.*, g.instance_id IS NOT NULL AS created, now() AS tx_now,
    taken.start_token = new.start_token AS mine,
    (SELECT array_agg(ARRAY[s.task_id, s.id]) FROM scheduled AS s
        WHERE s.instance_id = g.instance_id AND s.started) AS leased,
    EXISTS (SELECT 1 FROM timers AS t
        WHERE t.instance_id = g.instance_id AND t.visible_at <= now()) AS pending,
    (SELECT count(pg_notify($34, p)) FROM unnest($35::text[]) AS p) AS notified
FROM new LEFT JOIN created AS g ON g.instance_id = new.instance_id
    LEFT JOIN instances AS taken ON taken.instance_id = new.instance_id
ORDER BY new.position
"""  # noqa: S608 (constants only)


@dataclass(frozen=True)
class Start:
    """An instance to create, its first episode, and that episode's plan (``simple``, made
    without the row's facts: a new instance has none yet), and the attempt's token."""

    new: NewInstance
    first: EpisodeCommit
    plan: CommitPlan
    token: str


def fits(new: NewInstance, plan: CommitPlan) -> bool:
    """Whether this statement can start ``new`` with ``plan`` (a child's end tells its parent:
    that takes the transaction)."""
    return plan.simple and new.parent_instance_id is None


async def start_many(
    tx: Tx, starts: list[Start], finished_records: dict[str, InstanceRecord]
) -> list[list[ActivityWorkItem] | None]:
    """Create the instances of ``starts`` (distinct ids) with their first episodes, in one
    statement. For each, the activities leased to its worker, or None when its id is taken
    (a rerun of this attempt that finds its own row gets [], as the leases it made are not
    handed over twice: they run out). The rows of the instances that finished go to
    ``finished_records``."""
    rows = Rows()
    news: list[tuple[Any, ...]] = []
    for start in starts:
        new, plan = start.new, start.plan
        news.append(
            (
                new.instance_id,
                new.name,
                new.input,
                None if new.retry is None else dump_json(new.retry),
                start.token,
                plan.status.value,
                plan.output,
                dump_error(plan.error),
                plan.custom_status,
                plan.version,
            )
        )
        rows.add_work(plan)
    notify = rows.notifications(tx)
    created_rows = await tx.conn.fetch(
        _START_MANY,
        *unnest_columns(news, 10),
        *unnest_columns(rows.events, 4),
        *unnest_columns(rows.activities, 14),
        *unnest_columns(rows.timers, 5),
        tx.channel,
        notify,
    )
    results: list[list[ActivityWorkItem] | None] = []
    for start, leased, row in zip(starts, rows.leases, created_rows, strict=True):
        tx.now = row["tx_now"]
        if not row["created"]:
            results.append([] if row["mine"] else None)
            continue
        results.append(read_written(tx, row, start.plan, leased, finished_records))
    rows.wake(tx)
    return results


async def start_batch(
    db: Database, starts: list[Start], keep: Callable[[dict[str, InstanceRecord]], None]
) -> list[list[ActivityWorkItem] | None]:
    """``start_many`` in an operation of its own; ``keep`` gets the finished rows."""
    finished: dict[str, InstanceRecord] = {}
    started = await db.run(
        lambda tx: start_many(tx, starts, finished), "start_instance", atomic=False
    )
    keep(finished)
    return started
