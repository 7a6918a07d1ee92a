"""Committing an orchestration episode in PostgreSQL: the guard, the history, the actions.

Everything runs in the operation's one transaction (see ``Database.run``); any exception rolls
the episode back, so a refused commit (``LeaseLost``) writes nothing. The instance row is locked
(``FOR UPDATE``) before the guard reads it, so the lease and version checked are the ones the
commit replaces. The rules themselves are shared with SQLite (``stores.commit``).
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from ..._events import HistoryEvent
from .. import rules
from ..base import ActivityWorkItem, ClaimSpec, EpisodeCommit, LeaseLost
from ..commit import CommitPlan, InstanceFacts, NextRun, plan_commit
from ..rows import dump_error, dump_event
from . import outputs
from .activities import activity_values, schedule_activities
from .db import ORCHESTRATIONS, Tx
from .instances import (
    TERMINAL,
    Creation,
    deliver,
    insert_instances,
    insert_messages,
    message_row,
)


async def commit_episode(
    tx: Tx, commit: EpisodeCommit, eager: ClaimSpec | None, eager_limit: int
) -> list[ActivityWorkItem]:
    """Write ``commit``'s plan (see ``stores.commit``) in this transaction."""
    rules.check_commit(commit)
    row = await _guard(tx, commit)
    tx.now = now = row["tx_now"]
    facts = InstanceFacts(
        row["name"],
        row["execution_id"],
        row["parent_instance_id"],
        row["parent_task_id"],
        row["parent_execution_id"],
    )
    plan = plan_commit(commit, now=now, instance=facts, eager=eager, eager_limit=eager_limit)
    if plan.history:
        await _append_history(tx, plan.instance_id, plan.history)
    if plan.consumed:
        await tx.conn.execute("DELETE FROM inbox WHERE id = ANY($1::bigint[])", plan.consumed)
    claimed = await _write_work(tx, plan)
    if plan.stream_values:
        await outputs.append(tx, plan.instance_id, plan.stream_values)
    if plan.update_results:
        await outputs.answer(tx, plan.instance_id, plan.update_results)
    await _update_instance(tx, plan)
    if plan.finishing:
        await _finish(tx, plan)
    elif plan.next_run is not None:
        await _start_next_run(tx, plan.instance_id, plan.next_run)
    if plan.status.is_terminal:
        tx.instances.add(plan.instance_id)
        tx.finished.add(plan.instance_id)
    return claimed


async def _guard(tx: Tx, commit: EpisodeCommit) -> asyncpg.Record:
    row = await tx.conn.fetchrow(
        "SELECT status, execution_id, version, lease_owner, name, parent_instance_id, "
        "parent_task_id, parent_execution_id, now() AS tx_now "
        "FROM instances WHERE instance_id = $1 FOR UPDATE",
        commit.instance_id,
    )
    if row is None:
        where = f"instance {commit.instance_id!r}"
        raise LeaseLost(f"{where}: no longer exists; the episode is dropped")
    refused = rules.guard_failure(commit, row["lease_owner"], row["execution_id"], row["version"])
    if refused is not None:
        raise LeaseLost(refused)
    return row


async def _append_history(tx: Tx, instance_id: str, events: list[HistoryEvent]) -> None:
    rows = [(instance_id, e.seq, e.kind, dump_event(e)) for e in events]
    try:
        await tx.conn.executemany(
            "INSERT INTO history (instance_id, seq, kind, data) VALUES ($1, $2, $3, $4)", rows
        )
    except asyncpg.UniqueViolationError as exc:  # the split-brain guard
        raise LeaseLost(
            f"instance {instance_id!r}: history seq already written by another worker"
        ) from exc


async def _write_work(tx: Tx, plan: CommitPlan) -> list[ActivityWorkItem]:
    """The plan's activities, timers, children and messages; the activities leased to us."""
    instance_id, run = plan.instance_id, plan.execution_id
    values = [activity_values(instance_id, run, a.action, a.claimer) for a in plan.activities]
    claimed = await schedule_activities(tx, values)
    messages = [message_row(instance_id, t, run, t.timestamp) for t in plan.timers]
    if plan.cancelled_timers:
        await tx.conn.execute(
            "DELETE FROM inbox WHERE instance_id = $1 AND kind = 'TimerFired' "
            "AND task_id = ANY($2::int[]) AND execution_id = $3",
            instance_id,
            plan.cancelled_timers,
            run,
        )
    for child in plan.children:  # one by one: two of them may ask for one id
        [(created, _)] = await insert_instances(
            tx, [Creation(child.instance, parent_execution_id=run)]
        )
        if not created:
            messages.append(message_row(instance_id, child.if_taken, run))
    await insert_messages(tx, messages, broadcast=False)  # this instance's own
    for sent in plan.sent:  # dropped when the target is missing
        await deliver(tx, sent.instance_id, sent.event, execution_id=sent.execution_id)
    return claimed


# -- status ---------------------------------------------------------------------------------------


async def _update_instance(tx: Tx, plan: CommitPlan) -> None:
    # the writes flagged the work they made; the lease given back makes work only if messages
    # arrived meanwhile (waking idle claimers for nothing would cost each a claim transaction)
    pending = await tx.conn.fetchval(
        """UPDATE instances SET output = $2, error = $3, custom_status = $4, updated_at = now(),
               version = $5, status = $6, lease_owner = NULL, lease_expires_at = NULL, claims = 0
           WHERE instance_id = $1
           RETURNING EXISTS (SELECT 1 FROM inbox
               WHERE inbox.instance_id = $1 AND inbox.visible_at <= now())""",
        plan.instance_id,
        plan.output,
        dump_error(plan.error),
        plan.custom_status,
        plan.version,
        plan.status.value,
    )
    if pending and not plan.status.is_terminal:
        tx.work.add(ORCHESTRATIONS)


async def _finish(tx: Tx, plan: CommitPlan) -> None:
    """The run ended: drop pending work, tell the parent, pass a termination on."""
    instance_id = plan.instance_id
    await tx.conn.execute("DELETE FROM activities WHERE instance_id = $1", instance_id)
    await tx.conn.execute("DELETE FROM inbox WHERE instance_id = $1", instance_id)
    if plan.to_parent is not None:
        parent = plan.to_parent
        await deliver(tx, parent.instance_id, parent.event, execution_id=parent.execution_id)
    if plan.to_children is not None:
        children = await tx.conn.fetch(
            "SELECT instance_id FROM instances WHERE parent_instance_id = $1 "
            "AND NOT status = ANY($2::text[])",
            instance_id,
            TERMINAL,
        )
        for child in children:
            await deliver(tx, child["instance_id"], plan.to_children)


async def _start_next_run(tx: Tx, instance_id: str, run: NextRun) -> None:
    """Continue as new: a fresh history and execution id; the start, then carried-over events,
    then the messages that arrived meanwhile (in arrival order)."""
    conn = tx.conn
    await conn.execute("DELETE FROM history WHERE instance_id = $1", instance_id)
    await conn.execute("DELETE FROM activities WHERE instance_id = $1", instance_id)
    await conn.execute(
        "UPDATE instances SET execution_id = $2, version = 0, input = $3, output = NULL, "
        "error = NULL, attempt = coalesce($4, attempt) WHERE instance_id = $1",
        instance_id,
        run.execution_id,
        run.input,
        run.attempt,
    )
    # run-specific messages (timers, results) belong to the old run; the others wait
    waiting = await conn.fetch(
        "DELETE FROM inbox WHERE instance_id = $1 "
        "RETURNING id, execution_id, kind, task_id, data, visible_at",
        instance_id,
    )
    starts_at = run.started.timestamp + timedelta(seconds=run.delay)
    rows = [message_row(instance_id, run.started, run.execution_id, starts_at)]
    rows += [message_row(instance_id, event, None, starts_at) for event in run.carryover]
    for message in sorted(waiting, key=lambda r: r["id"]):
        if message["execution_id"] is None:  # kept, moved behind the start (never before it)
            visible_at = max(message["visible_at"], starts_at)
            kind, task_id, data = message["kind"], message["task_id"], message["data"]
            rows.append((instance_id, None, kind, task_id, data, visible_at))
    # the next run is this worker's to take: its own claimer is woken, not other processes
    await insert_messages(tx, rows, broadcast=False)
