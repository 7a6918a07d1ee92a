"""Committing an orchestration episode in memory: the guard, then the commit plan written.

``plan_commit`` (``stores.commit``) decides what the episode writes, as for every backend; this
module only writes the plan into the tables. Everything that can refuse the commit (the guard,
the plan's checks) runs before the first write, so a refused commit writes nothing.
"""

from __future__ import annotations

from ..._status import Status
from .. import rules
from ..base import ActivityWorkItem, ClaimSpec, EpisodeCommit, LeaseLost, NewInstance
from ..commit import CommitPlan, InstanceFacts, NextRun, plan_commit
from . import work
from .tables import InstanceRow, Tables, Tx, to_datetime


def commit_episode(
    db: Tables, tx: Tx, commit: EpisodeCommit, eager: ClaimSpec | None, eager_limit: int
) -> list[ActivityWorkItem]:
    row = db.instances.get(commit.instance_id)
    if row is None:
        raise LeaseLost(
            f"instance {commit.instance_id!r}: no longer exists; the episode is dropped"
        )
    refused = rules.guard_failure(commit, row.lease_owner, row.execution_id, row.version)
    if refused is not None:
        raise LeaseLost(refused)
    return _commit(db, tx, commit, row, eager, eager_limit)


def start_and_commit(
    db: Tables, tx: Tx, new: NewInstance, first: EpisodeCommit, eager: ClaimSpec, limit: int
) -> list[ActivityWorkItem] | None:
    """``Store.start_instance``: the instance's row, then its first episode."""
    rules.check_first(first, new)
    plan_commit(first, now=None, instance=None)  # its checks, before anything is written
    if not db.insert_instance(tx, new, with_start=False):
        return None
    return _commit(db, tx, first, db.instances[new.instance_id], eager, limit)


def complete_and_commit(
    db: Tables,
    tx: Tx,
    done: list[tuple[ActivityWorkItem, str]],
    then: EpisodeCommit | None,
    eager: ClaimSpec | None,
    eager_limit: int,
) -> tuple[bool, list[ActivityWorkItem] | None]:
    """``Store.complete_activity``: the attempts' rows go; their completions join ``then``'s
    commit when every lease held and the instance is as ``then`` expects, else go to the inbox."""
    if then is not None and eager is not None:
        rules.check_next(then, [item for item, _ in done])
        plan_commit(then, now=None, instance=None)
    finished = [work.finish(db, tx, item, result) for item, result in done]
    recorded = [f for f in finished if f is not None]
    if then is not None and eager is not None and len(recorded) == len(done):
        row = db.instances.get(then.instance_id)
        if row is not None and _takes(db, tx, row, then):
            return True, _commit(db, tx, then, row, eager, eager_limit)
    for instance_id, execution_id, event in recorded:
        if instance_id in db.inbox:
            db.insert_message(tx, instance_id, event, execution_id=execution_id)
    return finished[0] is not None, None


def _takes(db: Tables, tx: Tx, row: InstanceRow, then: EpisodeCommit) -> bool:
    return rules.free_for(
        then,
        row.status,
        lease_free=row.lease_free(tx.now),
        ready=row.ready_at <= tx.now,
        execution_id=row.execution_id,
        version=row.version,
    ) and not db.has_visible_messages(then.instance_id, tx.now)


def _commit(
    db: Tables,
    tx: Tx,
    commit: EpisodeCommit,
    row: InstanceRow,
    eager: ClaimSpec | None,
    eager_limit: int,
) -> list[ActivityWorkItem]:
    """Write ``commit``'s plan (see ``stores.commit``)."""
    facts = InstanceFacts(
        row.name,
        row.execution_id,
        row.parent_instance_id,
        row.parent_task_id,
        row.parent_execution_id,
    )
    plan = plan_commit(
        commit, now=to_datetime(tx.now), instance=facts, eager=eager, eager_limit=eager_limit
    )
    history = db.history[plan.instance_id]
    if plan.history and plan.history[0].seq != len(history):  # the split-brain guard
        raise LeaseLost(
            f"instance {plan.instance_id!r}: history seq already written by another worker"
        )
    history.extend(plan.history)
    db.delete_messages(plan.instance_id, plan.consumed)
    claimed = _write_work(db, tx, plan)
    if plan.stream_values:
        db.outputs.append(tx, plan.instance_id, plan.stream_values)
    if plan.update_results:
        db.outputs.answer(tx, plan.instance_id, plan.update_results)
    was = row.status
    row.output, row.error, row.custom_status = plan.output, plan.error, plan.custom_status
    row.updated_at, row.version, row.status = tx.now, plan.version, plan.status
    row.lease_owner, row.lease_expires_at, row.claims = None, 0.0, 0
    if plan.finishing:
        _finish(db, tx, plan)
    elif plan.next_run is not None:
        _start_next_run(db, tx, row, plan.next_run)
    if plan.status != was or plan.status.is_terminal:
        tx.instances.add(plan.instance_id)
    if not plan.status.is_terminal and not tx.work:
        tx.work = db.has_visible_messages(plan.instance_id, tx.now)
    return claimed


def _write_work(db: Tables, tx: Tx, plan: CommitPlan) -> list[ActivityWorkItem]:
    """The plan's activities, timers, children and messages; the activities leased to us."""
    instance_id, run = plan.instance_id, plan.execution_id
    claimed = []
    for activity in plan.activities:
        item = work.schedule_activity(db, tx, instance_id, run, activity.action, activity.claimer)
        if item is not None:
            claimed.append(item)
    for timer in plan.timers:
        visible_at = timer.timestamp.timestamp()
        db.insert_message(tx, instance_id, timer, execution_id=run, visible_at=visible_at)
    if plan.cancelled_timers:
        cancelled = set(plan.cancelled_timers)
        inbox = db.inbox[instance_id]
        for message in list(inbox.values()):
            task_id = getattr(message.event, "task_id", None)
            if (
                message.event.kind == "TimerFired"
                and task_id in cancelled
                and message.execution_id == run
            ):
                del inbox[message.id]
    for child in plan.children:
        if not db.insert_instance(tx, child.instance, parent_execution_id=run):
            db.insert_message(tx, instance_id, child.if_taken, execution_id=run)
    for sent in plan.sent:  # dropped when the target is missing
        db.deliver(tx, sent.instance_id, sent.event, execution_id=sent.execution_id)
    return claimed


def _finish(db: Tables, tx: Tx, plan: CommitPlan) -> None:
    """The run ended: drop pending work, tell the parent, pass a termination on."""
    db.delete_activities(plan.instance_id)
    db.inbox[plan.instance_id].clear()
    if plan.to_parent is not None:
        parent = plan.to_parent
        db.deliver(tx, parent.instance_id, parent.event, execution_id=parent.execution_id)
    if plan.to_children is not None:
        for child in db.instances.values():
            if child.parent_instance_id == plan.instance_id and not child.status.is_terminal:
                db.insert_message(tx, child.instance_id, plan.to_children)


def _start_next_run(db: Tables, tx: Tx, row: InstanceRow, run: NextRun) -> None:
    """Continue as new: a fresh history and execution id; the start, then carried-over events,
    then messages that arrived meanwhile (in arrival order)."""
    instance_id = row.instance_id
    db.history[instance_id] = []
    db.delete_activities(instance_id)
    inbox = db.inbox[instance_id]
    # run-specific messages (timers, results) belong to the old run
    waiting = [m for m in inbox.values() if m.execution_id is None]
    inbox.clear()
    row.execution_id, row.version, row.input = run.execution_id, 0, run.input
    row.output, row.error = None, None
    if run.attempt is not None:
        row.attempt = run.attempt
    starts_at = tx.now + run.delay  # nothing of the new run is visible before its start
    db.insert_message(
        tx, instance_id, run.started, execution_id=run.execution_id, visible_at=starts_at
    )
    for event in run.carryover:
        db.insert_message(tx, instance_id, event, visible_at=starts_at)
    for message in waiting:  # move behind the start, order kept
        db.insert_message(
            tx,
            instance_id,
            message.event,
            execution_id=message.execution_id,
            visible_at=max(message.visible_at, starts_at),
        )
    if row.status is Status.PENDING:
        tx.instances.add(instance_id)
