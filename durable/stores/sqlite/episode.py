"""Committing an orchestration episode in SQLite: the guard, the history, the actions, the status.

Everything here runs inside one transaction (see ``Database.write``); any exception rolls the
whole episode back, so a refused commit (``LeaseLost``) writes nothing.
"""

from __future__ import annotations

import sqlite3

from ..._status import Status
from .. import rules
from ..base import ActivityWorkItem, ClaimSpec, EpisodeCommit, LeaseLost, NewInstance
from ..commit import CommitPlan, InstanceFacts, NextRun, plan_commit
from . import activities, outputs
from .activities import schedule_activity
from .instances import deliver, insert_instance, insert_message
from .rows import TERMINAL_SQL, Tx, dump_error, dump_event, to_datetime, to_ts


def commit_episode(
    tx: Tx, commit: EpisodeCommit, eager: ClaimSpec | None, eager_limit: int
) -> list[ActivityWorkItem]:
    return _commit(tx, commit, _guard(tx, commit), eager, eager_limit)


def start_and_commit(
    tx: Tx, new: NewInstance, first: EpisodeCommit, eager: ClaimSpec, eager_limit: int
) -> list[ActivityWorkItem] | None:
    """``Store.start_instance``: the instance's row, then its first episode (whose history
    opens with the ``ExecutionStarted`` that would have waited in the inbox)."""
    rules.check_first(first, new)
    if not insert_instance(tx, new, with_start=False):
        return None
    row = tx.one("SELECT * FROM instances WHERE instance_id = ?", (new.instance_id,))
    assert row is not None
    return _commit(tx, first, row, eager, eager_limit)


def complete_and_commit(
    tx: Tx,
    done: list[tuple[ActivityWorkItem, str]],
    then: EpisodeCommit | None,
    eager: ClaimSpec | None,
    eager_limit: int,
) -> tuple[bool, list[ActivityWorkItem] | None]:
    """``Store.complete_activity`` of the attempts ``done`` (one instance's): their rows go; the
    completions join ``then``'s commit when every lease held and the instance is as ``then``
    expects it, else wait in the inbox."""
    if then is not None and eager is not None:
        rules.check_next(then, [item for item, _ in done])
    finished = [activities.finish(tx, item) for item, _ in done]
    recorded = [(f, result) for f, (_, result) in zip(finished, done, strict=True) if f]
    if then is not None and eager is not None and len(recorded) == len(done):
        claimed = _commit_if_free(tx, then, eager, eager_limit)
        if claimed is not None:
            return True, claimed
        row = tx.one("SELECT * FROM instances WHERE instance_id = ?", (then.instance_id,))
        if row is not None and _takes(tx, row, then):
            # _takes found the inbox empty, and this transaction is the only writer
            return True, _commit(tx, then, row, eager, eager_limit, inbox_empty=True)
    # the events are made only here: a completion that commits with ``then`` has its own
    for (instance_id, execution_id, task_id), result in recorded:
        event = activities.completed(tx, task_id, result)
        insert_message(tx, instance_id, event, execution_id=execution_id)
    return finished[0] is not None, None


def _commit_if_free(
    tx: Tx, then: EpisodeCommit, eager: ClaimSpec, eager_limit: int
) -> list[ActivityWorkItem] | None:
    """The common case of ``complete_and_commit`` in one statement: a RUNNING instance that
    stays RUNNING, taken by an UPDATE whose WHERE is ``_takes`` (so the row is not read, nor
    its facts: a plan that neither ends the run nor continues it needs none). None, having
    written nothing, when the row refuses it or ``then`` is another case: the caller then
    takes the general path, which decides exactly as before."""
    plan = plan_commit(
        then, now=to_datetime(tx.now), instance=None, eager=eager, eager_limit=eager_limit
    )
    if plan.status is not Status.RUNNING:
        return None
    now, instance_id = tx.now, plan.instance_id
    cursor = tx.conn.execute(
        _TAKE,
        (
            plan.output,
            dump_error(plan.error),
            plan.custom_status,
            now,
            plan.version,
            instance_id,
            then.execution_id,
            then.expected_version,
            now,
            now,
            instance_id,
            now,
        ),
    )
    if cursor.rowcount != 1:
        return None
    # the UPDATE found the inbox empty, and this transaction is the only writer
    return _write_plan(tx, plan)


#: ``rules.free_for`` and an empty inbox, as SQL, for a RUNNING row that stays RUNNING
_TAKE = """
UPDATE instances SET output = ?, error = ?, custom_status = ?,
    updated_at = ?, version = ?, lease_owner = NULL, lease_expires_at = NULL, claims = 0
WHERE instance_id = ? AND status = 'RUNNING' AND execution_id = ?
    AND version = ? AND (lease_owner IS NULL OR lease_expires_at <= ?)
    AND ready_at <= ?
    AND NOT EXISTS (SELECT 1 FROM inbox WHERE instance_id = ? AND visible_at <= ?)
"""


def _takes(tx: Tx, row: sqlite3.Row, then: EpisodeCommit) -> bool:
    """The instance is exactly as the worker that decided ``then`` saw it: free, at that
    version, and with nothing else waiting (which ``then`` would have had to apply first)."""
    return rules.free_for(
        then,
        Status(row["status"]),
        lease_free=row["lease_owner"] is None or row["lease_expires_at"] <= tx.now,
        ready=row["ready_at"] <= tx.now,
        execution_id=row["execution_id"],
        version=row["version"],
    ) and not _has_visible_messages(tx, then.instance_id)


def _commit(
    tx: Tx,
    commit: EpisodeCommit,
    row: sqlite3.Row,
    eager: ClaimSpec | None,
    eager_limit: int,
    *,
    inbox_empty: bool = False,
) -> list[ActivityWorkItem]:
    """Write ``commit``'s plan (see ``stores.commit``) in this transaction."""
    plan = plan_commit(
        commit, now=to_datetime(tx.now), instance=_facts(row), eager=eager, eager_limit=eager_limit
    )
    claimed = _write_plan(tx, plan)
    _update_instance(tx, plan, Status(row["status"]))
    if plan.finishing:
        _finish(tx, plan)
    elif plan.next_run is not None:
        _start_next_run(tx, plan.instance_id, plan.next_run)
    if plan.status != Status(row["status"]) or plan.status.is_terminal:
        tx.instances.add(plan.instance_id)
    # the writes flagged the work they made; the lease given back makes work only if messages
    # arrived meanwhile (waking idle claimers for nothing would cost each a claim transaction)
    if not plan.status.is_terminal and not tx.work and not inbox_empty:
        tx.work = _has_visible_messages(tx, plan.instance_id)
    return claimed


def _write_plan(tx: Tx, plan: CommitPlan) -> list[ActivityWorkItem]:
    """The plan's history, consumed messages, work and outputs (not the instance row)."""
    _append_history(tx, plan)
    if plan.consumed:
        tx.conn.executemany("DELETE FROM inbox WHERE id = ?", [(i,) for i in plan.consumed])
    claimed = _write_work(tx, plan)
    if plan.stream_values:
        outputs.append(tx, plan.instance_id, plan.stream_values)
    if plan.update_results:
        outputs.answer(tx, plan.instance_id, plan.update_results)
    return claimed


def _facts(row: sqlite3.Row) -> InstanceFacts:
    return InstanceFacts(
        row["name"],
        row["execution_id"],
        row["parent_instance_id"],
        row["parent_task_id"],
        row["parent_execution_id"],
    )


def _has_visible_messages(tx: Tx, instance_id: str) -> bool:
    row = tx.one(
        "SELECT 1 FROM inbox WHERE instance_id = ? AND visible_at <= ? LIMIT 1",
        (instance_id, tx.now),
    )
    return row is not None


def _guard(tx: Tx, commit: EpisodeCommit) -> sqlite3.Row:
    row = tx.one("SELECT * FROM instances WHERE instance_id = ?", (commit.instance_id,))
    if row is None:
        raise LeaseLost(
            f"instance {commit.instance_id!r}: no longer exists; the episode is dropped"
        )
    refused = rules.guard_failure(commit, row["lease_owner"], row["execution_id"], row["version"])
    if refused is not None:
        raise LeaseLost(refused)
    return row


def _append_history(tx: Tx, plan: CommitPlan) -> None:
    instance_id, events = plan.instance_id, plan.history
    try:
        if 0 < len(events) <= len(_INSERT_HISTORY):  # a step's few rows: one statement
            values = [v for e in events for v in (instance_id, e.seq, e.kind, dump_event(e))]
            tx.conn.execute(_INSERT_HISTORY[len(events) - 1], values)
        elif events:
            rows = [(instance_id, e.seq, e.kind, dump_event(e)) for e in events]
            tx.conn.executemany(_INSERT_HISTORY[0], rows)
    except sqlite3.IntegrityError as exc:  # the split-brain guard: that seq is written already
        raise LeaseLost(
            f"instance {plan.instance_id!r}: history seq already written by another worker"
        ) from exc


#: ``INSERT INTO history`` of 1 to 8 rows
_INSERT_HISTORY = tuple(
    "INSERT INTO history (instance_id, seq, kind, data) VALUES "  # noqa: S608 (constants only)
    + ", ".join(["(?, ?, ?, ?)"] * count)
    for count in range(1, 9)
)


def _write_work(tx: Tx, plan: CommitPlan) -> list[ActivityWorkItem]:
    """The plan's activities, timers, children and messages; the activities leased to us."""
    instance_id, run = plan.instance_id, plan.execution_id
    claimed = []
    for activity in plan.activities:
        item = schedule_activity(tx, instance_id, run, activity.action, activity.claimer)
        if item is not None:
            claimed.append(item)
    for timer in plan.timers:
        visible_at = to_ts(timer.timestamp)
        insert_message(tx, instance_id, timer, execution_id=run, visible_at=visible_at)
    if plan.cancelled_timers:
        tx.conn.executemany(
            "DELETE FROM inbox WHERE instance_id = ? AND kind = 'TimerFired' AND task_id = ? "
            "AND execution_id = ?",
            [(instance_id, task_id, run) for task_id in plan.cancelled_timers],
        )
    for child in plan.children:
        if not insert_instance(tx, child.instance, parent_execution_id=run):
            insert_message(tx, instance_id, child.if_taken, execution_id=run)
    for sent in plan.sent:  # dropped when the target is missing
        deliver(tx, sent.instance_id, sent.event, execution_id=sent.execution_id)
    return claimed


# -- status ---------------------------------------------------------------------------------------


def _update_instance(tx: Tx, plan: CommitPlan, was: Status) -> None:
    # status is set only when it changes: assigning it at all costs an index update
    changed = plan.status != was
    tx.execute(
        _UPDATE_WITH_STATUS if changed else _UPDATE,
        (
            plan.output,
            dump_error(plan.error),
            plan.custom_status,
            tx.now,
            plan.version,
            *((plan.status.value,) if changed else ()),
            plan.instance_id,
        ),
    )


_SET = """output = ?, error = ?, custom_status = ?, updated_at = ?, version = ?,
    lease_owner = NULL, lease_expires_at = NULL, claims = 0"""
_UPDATE = f"UPDATE instances SET {_SET} WHERE instance_id = ?"  # noqa: S608 (constants only)
_UPDATE_WITH_STATUS = f"UPDATE instances SET {_SET}, status = ? WHERE instance_id = ?"  # noqa: S608


def _finish(tx: Tx, plan: CommitPlan) -> None:
    """The run ended: drop pending work, tell the parent, pass a termination on."""
    instance_id = plan.instance_id
    tx.execute("DELETE FROM activities WHERE instance_id = ?", (instance_id,))
    tx.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))
    if plan.to_parent is not None:
        parent = plan.to_parent
        deliver(tx, parent.instance_id, parent.event, execution_id=parent.execution_id)
    if plan.to_children is not None:
        children = tx.execute(
            f"SELECT instance_id FROM instances WHERE parent_instance_id = ? "  # noqa: S608
            f"AND status NOT IN {TERMINAL_SQL}",
            (instance_id,),
        ).fetchall()
        for (child,) in children:
            insert_message(tx, child, plan.to_children)


def _start_next_run(tx: Tx, instance_id: str, run: NextRun) -> None:
    """Continue as new: a fresh history and execution id; the start, then carried-over events,
    then messages that arrived meanwhile (in arrival order)."""
    for table in ("history", "activities"):
        tx.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))  # noqa: S608
    # run-specific messages (timers, results) belong to the old run
    tx.execute(
        "DELETE FROM inbox WHERE instance_id = ? AND execution_id IS NOT NULL", (instance_id,)
    )
    tx.execute(
        "UPDATE instances SET execution_id = ?, version = 0, input = ?, output = NULL, "
        "error = NULL, attempt = coalesce(?, attempt) WHERE instance_id = ?",
        (run.execution_id, run.input, run.attempt, instance_id),
    )
    first_new = _last_message_id(tx) + 1
    starts_at = tx.now + run.delay  # nothing of the new run is visible before its start
    insert_message(
        tx, instance_id, run.started, execution_id=run.execution_id, visible_at=starts_at
    )
    for event in run.carryover:
        insert_message(tx, instance_id, event, visible_at=starts_at)
    # messages still waiting (raised during the episode) move behind the start, order kept
    tx.execute(
        """INSERT INTO inbox (instance_id, execution_id, kind, task_id, data, visible_at)
           SELECT instance_id, execution_id, kind, task_id, data, max(visible_at, ?)
           FROM inbox WHERE instance_id = ? AND id < ? ORDER BY id""",
        (starts_at, instance_id, first_new),
    )
    tx.execute("DELETE FROM inbox WHERE instance_id = ? AND id < ?", (instance_id, first_new))


def _last_message_id(tx: Tx) -> int:
    row = tx.one("SELECT seq FROM sqlite_sequence WHERE name = 'inbox'")
    return 0 if row is None else int(row[0])
