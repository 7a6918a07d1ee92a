"""SQLite operations on orchestration work: claim, release, renew, and the next due time.

An instance is claimable when it has a visible message, its lease is free or expired, its
``ready_at`` has passed, it has not finished, and a worker can run its name. A SUSPENDED instance
is claimable only for a control message (resume, terminate, suspend): the interpreter leaves its
other messages in the inbox until it resumes, and claiming it for them would spin.
"""

from __future__ import annotations

import sqlite3

from ..._status import Status
from ..base import ClaimSpec, Message, OrchestrationWorkItem
from ..rows import load_messages
from ..rules import CONTROL_KINDS
from .rows import TERMINAL_SQL, Tx, load_json, names_json, to_datetime

_CONTROL = CONTROL_KINDS
_CONTROL_SQL = "(" + ", ".join(f"'{kind}'" for kind in sorted(_CONTROL)) + ")"
# Messages in due order, so the longest-waiting instance goes first. CROSS JOIN fixes the join
# order: walk the inbox_visible index and stop at the first matches (driving from instances by
# name would visit every finished instance of that name).
_CANDIDATES = f"""
SELECT m.instance_id FROM inbox AS m CROSS JOIN instances AS i ON i.instance_id = m.instance_id
WHERE m.visible_at <= :now AND i.ready_at <= :now
  AND (i.lease_owner IS NULL OR i.lease_expires_at <= :now)
  AND i.status NOT IN {TERMINAL_SQL}
  AND (i.status != 'SUSPENDED' OR m.kind IN {_CONTROL_SQL})
  AND i.name IN (SELECT value FROM json_each(:names))
ORDER BY m.visible_at LIMIT :limit
"""  # noqa: S608 (constants only)


def claim_orchestration(tx: Tx, spec: ClaimSpec) -> OrchestrationWorkItem | None:
    claimed = claim_orchestrations(tx, spec, 1)
    return claimed[0] if claimed else None


def claim_orchestrations(tx: Tx, spec: ClaimSpec, limit: int) -> list[OrchestrationWorkItem]:
    """Lease up to ``limit`` instances, longest-waiting first (``Store.claim_orchestrations``)."""
    # a few candidates more than wanted: an instance may have several due messages, or turn
    # out not to be claimable (another writer leased it since)
    params = {"now": tx.now, "names": names_json(spec.orchestrators), "limit": limit + 15}
    seen: set[str] = set()
    claimed: list[OrchestrationWorkItem] = []
    for (instance_id,) in tx.execute(_CANDIDATES, params).fetchall():
        if instance_id in seen:
            continue
        seen.add(instance_id)
        item = claim_instance(tx, instance_id, spec)
        if item is not None:
            claimed.append(item)
            if len(claimed) >= limit:
                break
    return claimed


def claim_instance(tx: Tx, instance_id: str, spec: ClaimSpec) -> OrchestrationWorkItem | None:
    """Lease this instance to ``spec`` if it is claimable now, with its visible messages."""
    found = claimable(tx, instance_id, spec)
    if found is None:
        return None
    lease(tx, instance_id, spec)
    return found[0]


def lease(tx: Tx, instance_id: str, spec: ClaimSpec) -> None:
    tx.execute(
        "UPDATE instances SET lease_owner = ?, lease_expires_at = ?, claims = claims + 1 "
        "WHERE instance_id = ?",
        (spec.worker_id, tx.now + spec.lease_seconds, instance_id),
    )


def claimable(
    tx: Tx, instance_id: str, spec: ClaimSpec, extra: Message | None = None
) -> tuple[OrchestrationWorkItem, sqlite3.Row] | None:
    """The work item ``claim_instance`` would lease (and the instance's row), leasing nothing.

    ``extra``: a message not in the inbox, delivered after the visible ones.
    """
    row = tx.one("SELECT * FROM instances WHERE instance_id = ?", (instance_id,))
    if row is None or not _claimable(row, spec, tx.now):
        return None
    messages, unreadable = _visible_messages(tx, instance_id, row["execution_id"], extra)
    if not messages and unreadable is None:
        return None
    if row["status"] == Status.SUSPENDED and not any(m.event.kind in _CONTROL for m in messages):
        return None
    return OrchestrationWorkItem(
        instance_id=instance_id,
        name=row["name"],
        execution_id=row["execution_id"],
        version=row["version"],
        status=Status(row["status"]),
        messages=messages,
        now=to_datetime(tx.now),
        parent_instance_id=row["parent_instance_id"],
        parent_task_id=row["parent_task_id"],
        retry=load_json(row["retry"]),
        attempt=row["attempt"],
        claims=row["claims"] + 1,  # with the claim being made
        unreadable=unreadable,
    ), row


def _claimable(row: sqlite3.Row, spec: ClaimSpec, now: float) -> bool:
    lease_free = row["lease_owner"] is None or row["lease_expires_at"] <= now
    return (
        lease_free
        and row["ready_at"] <= now
        and row["name"] in spec.orchestrators
        and not Status(row["status"]).is_terminal
    )


def _visible_messages(
    tx: Tx, instance_id: str, execution_id: int, extra: Message | None
) -> tuple[list[Message], str | None]:
    rows = tx.execute(
        "SELECT id, execution_id, data FROM inbox WHERE instance_id = ? AND visible_at <= ? "
        "ORDER BY visible_at, id",
        (instance_id, tx.now),
    ).fetchall()
    # results of an older run (a child that ended after its parent continued as new) are void
    void = [(row[0],) for row in rows if row[1] is not None and row[1] < execution_id]
    if void:
        tx.conn.executemany("DELETE FROM inbox WHERE id = ?", void)
    read, unreadable = load_messages(
        instance_id, ((row[0], row[2]) for row in rows if row[1] is None or row[1] >= execution_id)
    )
    messages = [Message(id_, event) for id_, event in read]
    if extra is not None:
        messages.append(extra)
    # the run's start opens it, even if a clock step put another message's time before it
    messages.sort(key=lambda message: message.event.kind != "ExecutionStarted")
    return messages, unreadable


def release_orchestration(
    tx: Tx, instance_id: str, worker_id: str, retry_in: float, error: str | None
) -> None:
    cursor = tx.execute(
        """UPDATE instances SET lease_owner = NULL, lease_expires_at = NULL, ready_at = ?,
               claims = max(claims - 1, 0), error = coalesce(?, error),
               updated_at = iif(? IS NULL, updated_at, ?)
           WHERE instance_id = ? AND lease_owner = ?""",
        (tx.now + max(retry_in, 0.0), error, error, tx.now, instance_id, worker_id),
    )
    if cursor.rowcount:
        tx.work = True
        if error is not None:
            tx.instances.add(instance_id)


def renew_leases(
    tx: Tx, worker_id: str, lease_seconds: float, instances: list[str], activities: list[int]
) -> None:
    until = tx.now + lease_seconds
    tx.conn.executemany(
        "UPDATE instances SET lease_expires_at = ? WHERE instance_id = ? AND lease_owner = ?",
        [(until, instance_id, worker_id) for instance_id in instances],
    )
    # an activity row's visible_at is its lease expiry while it is leased
    tx.conn.executemany(
        "UPDATE activities SET visible_at = ? WHERE id = ? AND lease_owner = ?",
        [(until, activity_id, worker_id) for activity_id in activities],
    )


_INBOX_DUE = "SELECT min(visible_at) AS t FROM inbox WHERE visible_at > :now"
_INSTANCES_DUE = "SELECT min(ready_at) AS t FROM instances WHERE ready_at > :now"
_ACTIVITIES_DUE = (
    "SELECT min(visible_at) AS t FROM activities WHERE lease_owner IS NULL AND visible_at > :now"
)
# what falls due for each kind of claimer: the activity claimers need not wake for a timer
_NEXT_DUE = {
    kind: f"SELECT min(t) FROM ({' UNION ALL '.join(parts)})"  # noqa: S608 (constants only)
    for kind, parts in {
        None: (_INBOX_DUE, _ACTIVITIES_DUE, _INSTANCES_DUE),
        "orchestrations": (_INBOX_DUE, _INSTANCES_DUE),
        "activities": (_ACTIVITIES_DUE,),
    }.items()
}


def next_due(conn: sqlite3.Connection, now: float, kind: str | None = None) -> float | None:
    """The earliest future time at which work of ``kind`` becomes due (a message or a released
    instance for orchestrations, an activity for activities; None: any)."""
    row = conn.execute(_NEXT_DUE[kind], {"now": now}).fetchone()
    due: float | None = row[0]
    return due
