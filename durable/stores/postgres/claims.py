"""PostgreSQL operations on orchestration work: claim, release, renew, and the next due time.

Claims take rows with ``FOR UPDATE SKIP LOCKED``: concurrent claimers on any number of hosts
never wait on each other and never take the same row. Due times and leases use the database's
``now()``. The rules are the SQLite store's (see ``sqlite.claims``/``sqlite.activities``):
a SUSPENDED instance is claimable only for a control message; an activity row's ``visible_at``
is its lease expiry while leased; a completion counts only from the attempt holding the row.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from ..._status import Status
from ..base import ClaimSpec, Message, OrchestrationWorkItem
from ..rows import load_json, load_messages
from ..rules import CONTROL_KINDS
from .db import ORCHESTRATIONS, Tx
from .instances import TERMINAL

_CONTROL = sorted(CONTROL_KINDS)
# Lease the candidate (parameters $1 worker, $2 lease seconds) ...
LEASED = """, leased AS (
    UPDATE instances AS i SET lease_owner = $1,
        lease_expires_at = now() + $2 * interval '1 second', claims = i.claims + 1
    FROM candidate WHERE i.instance_id = candidate.instance_id
    RETURNING i.*
)
"""
# ... and read its visible messages in the same statement (one round trip)
INBOX_OF_LEASED = """LATERAL (
    SELECT array_agg(m.id ORDER BY m.visible_at, m.id) AS ids,
        array_agg(m.execution_id ORDER BY m.visible_at, m.id) AS runs,
        array_agg(m.data ORDER BY m.visible_at, m.id) AS data
    FROM inbox AS m WHERE m.instance_id = leased.instance_id AND m.visible_at <= now()
) AS inbox
"""
# A write that only leases work commits without waiting for the WAL flush: lost in a crash of
# the server, the lease is as if it had expired (the next write that must last flushes it).
NO_FLUSH = "set_config('synchronous_commit', 'off', true)"
_LEASE = f"""{LEASED}
SELECT leased.*, now() AS tx_now, inbox.ids, inbox.runs, inbox.data, {NO_FLUSH} AS no_flush
FROM leased CROSS JOIN {INBOX_OF_LEASED}
"""  # noqa: S608 (constants only)
# the conditions under which instance i may be leased now (parameters $3 names, $4 terminal)
CLAIMABLE = """
    i.ready_at <= now() AND (i.lease_owner IS NULL OR i.lease_expires_at <= now())
    AND (i.name || '') = ANY($3::text[]) AND NOT (i.status || '') = ANY($4::text[])
"""
#: the due messages of claimable instances, oldest first (each probes its instance by key)
_DUE = f"""
    SELECT m.instance_id, m.visible_at FROM inbox AS m
    WHERE m.visible_at <= now() AND (
        SELECT {CLAIMABLE} AND (i.status <> 'SUSPENDED' OR m.kind = ANY($5::text[]))
        FROM instances AS i WHERE i.instance_id = m.instance_id)
    ORDER BY m.visible_at"""  # noqa: S608 (constants only)
# Oldest due message first: walk the inbox (by visible_at), probing each message's instance by
# primary key, and stop at a few; then lock the first of those instances that no other claimer
# holds. The plan must not depend on statistics (a burst on fresh tables has none): the probe is
# a scalar subquery (always per row) and `name || ''` keeps the planner off the name index,
# which would visit every finished instance of that name.
_CLAIM_NEXT = f"""
WITH due AS MATERIALIZED (
{_DUE}
    LIMIT 32
), candidate AS (
    -- in due order (the CTE's), the first instance this statement can lock; LIMIT stops the
    -- nested loop there, so only that one row is locked
    SELECT locked.instance_id FROM due CROSS JOIN LATERAL (
        SELECT i.instance_id FROM instances AS i
        WHERE i.instance_id = due.instance_id AND {CLAIMABLE}
        FOR UPDATE SKIP LOCKED) AS locked
    LIMIT 1
)
{_LEASE}
"""  # noqa: S608 (constants only)
# The same for up to $6 instances at once: the due messages' distinct instances, in due order,
# each locked if no other claimer holds it, until $6 are locked.
_CLAIM_SOME = f"""
WITH due AS MATERIALIZED (
{_DUE}
    LIMIT $6::int + 31
), firsts AS MATERIALIZED (
    SELECT instance_id, min(visible_at) AS visible_at FROM due GROUP BY instance_id ORDER BY 2
), candidate AS (
    SELECT locked.instance_id FROM firsts CROSS JOIN LATERAL (
        SELECT i.instance_id FROM instances AS i
        WHERE i.instance_id = firsts.instance_id AND {CLAIMABLE}
        FOR UPDATE SKIP LOCKED) AS locked
    LIMIT $6
)
{_LEASE}
"""  # noqa: S608 (constants only)
# This instance, if it is claimable and has a message it can take now.
_CLAIM_ONE = f"""
WITH candidate AS (
    SELECT i.instance_id FROM instances AS i
    WHERE i.instance_id = $6 AND {CLAIMABLE}
      AND EXISTS (SELECT 1 FROM inbox AS m WHERE m.instance_id = i.instance_id
          AND m.visible_at <= now() AND (i.status <> 'SUSPENDED' OR m.kind = ANY($5::text[])))
    FOR UPDATE OF i SKIP LOCKED
)
{_LEASE}
"""  # noqa: S608 (constants only)


def claim_params(spec: ClaimSpec) -> list[Any]:
    return [spec.worker_id, spec.lease_seconds, sorted(spec.orchestrators), TERMINAL, _CONTROL]


async def claim_orchestration(tx: Tx, spec: ClaimSpec) -> OrchestrationWorkItem | None:
    row = await tx.conn.fetchrow(_CLAIM_NEXT, *claim_params(spec))
    return None if row is None else await work_item(tx, row)


async def claim_orchestrations(tx: Tx, spec: ClaimSpec, limit: int) -> list[OrchestrationWorkItem]:
    rows = await tx.conn.fetch(_CLAIM_SOME, *claim_params(spec), limit)
    return [await work_item(tx, row) for row in rows]


async def claim_instance(tx: Tx, instance_id: str, spec: ClaimSpec) -> OrchestrationWorkItem | None:
    """Lease this instance to ``spec`` if it is claimable now, with its visible messages."""
    row = await tx.conn.fetchrow(_CLAIM_ONE, *claim_params(spec), instance_id)
    return None if row is None else await work_item(tx, row)


async def work_item(
    tx: Tx, row: asyncpg.Record, arrived: list[Message] | None = None
) -> OrchestrationWorkItem:
    """The work item of a leased row; ``arrived``: messages the claiming statement wrote
    itself (after every message it read: their ids and times are the latest)."""
    tx.now = row["tx_now"]
    instance_id, execution_id = row["instance_id"], row["execution_id"]
    inbox = list(zip(row["ids"] or (), row["runs"] or (), row["data"] or (), strict=True))
    # results of an older run (a child that ended after its parent continued as new) are void
    void = [id_ for id_, run, _ in inbox if run is not None and run < execution_id]
    if void:
        await tx.conn.execute("DELETE FROM inbox WHERE id = ANY($1::bigint[])", void)
    read, unreadable = load_messages(
        instance_id, ((id_, data) for id_, run, data in inbox if run is None or run >= execution_id)
    )
    messages = [Message(id_, event) for id_, event in read]
    messages += arrived or ()
    # the run's start opens it, even if a clock step put another message's time before it
    messages.sort(key=lambda message: message.event.kind != "ExecutionStarted")
    return OrchestrationWorkItem(
        instance_id=instance_id,
        name=row["name"],
        execution_id=execution_id,
        version=row["version"],
        status=Status(row["status"]),
        messages=messages,
        now=row["tx_now"],
        parent_instance_id=row["parent_instance_id"],
        parent_task_id=row["parent_task_id"],
        retry=load_json(row["retry"]),
        attempt=row["attempt"],
        claims=row["claims"],
        unreadable=unreadable,
    )


async def release_orchestration(
    tx: Tx, instance_id: str, worker_id: str, retry_in: float, error: str | None
) -> None:
    status = await tx.conn.execute(
        """UPDATE instances SET lease_owner = NULL, lease_expires_at = NULL,
               claims = greatest(claims - 1, 0),
               ready_at = now() + $3 * interval '1 second', error = coalesce($4, error),
               updated_at = CASE WHEN $4::text IS NULL THEN updated_at ELSE now() END
           WHERE instance_id = $1 AND lease_owner = $2""",
        instance_id,
        worker_id,
        max(retry_in, 0.0),
        error,
    )
    if status != "UPDATE 0":
        tx.work.add(ORCHESTRATIONS)
        tx.broadcast = True
        tx.due = retry_in > 0


async def renew_leases(
    tx: Tx, worker_id: str, lease_seconds: float, instances: list[str], activities: list[int]
) -> None:
    if instances:
        await tx.conn.execute(
            "UPDATE instances SET lease_expires_at = now() + $2 * interval '1 second' "
            "WHERE instance_id = ANY($3::text[]) AND lease_owner = $1",
            worker_id,
            lease_seconds,
            instances,
        )
    if activities:  # an activity row's visible_at is its lease expiry while it is leased
        await tx.conn.execute(
            "UPDATE activities SET visible_at = now() + $2 * interval '1 second' "
            "WHERE id = ANY($3::bigint[]) AND lease_owner = $1",
            worker_id,
            lease_seconds,
            activities,
        )


async def seconds_to_next_due(conn: asyncpg.Connection) -> float | None:
    """Seconds until a message, an activity or a released instance next falls due, if any."""
    due: float | None = await conn.fetchval(
        """SELECT extract(epoch FROM min(t) - now()) FROM (
               SELECT min(visible_at) AS t FROM inbox WHERE visible_at > now()
               UNION ALL SELECT min(visible_at) FROM activities
                   WHERE lease_owner IS NULL AND visible_at > now()
               UNION ALL SELECT min(ready_at) FROM instances WHERE ready_at > now()) AS due"""
    )
    return None if due is None else float(due)
