"""Committing an orchestration episode in PostgreSQL: the guard, the history, the actions.

Everything runs in the operation's one transaction (see ``Database.run``); any exception rolls
the episode back, so a refused commit (``LeaseLost``) writes nothing. The instance row is locked
(``FOR UPDATE``) before the guard reads it, so the lease and version checked are the ones the
commit replaces. The rules themselves are shared with SQLite (``stores.commit``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from ... import _actions as act
from ..._events import EventRaised, TimerFired
from ..._status import Status
from .. import commit as rules
from ..base import ActivityWorkItem, ClaimSpec, EpisodeCommit, LeaseLost, NewInstance
from ..rows import dump_error, dump_event
from .db import ORCHESTRATIONS, Tx
from .instances import (
    TERMINAL,
    Creation,
    deliver,
    insert_instances,
    insert_messages,
    message_row,
)
from .work import activity_values, schedule_activities


@dataclass
class _Episode:
    tx: Tx
    commit: EpisodeCommit
    row: asyncpg.Record
    now: datetime
    eager: ClaimSpec | None
    eager_limit: int
    continue_as_new: act.ContinueAsNew | None
    #: rows batched until the actions are all seen (one round trip each kind)
    activities: list[tuple[Any, ...]] = field(default_factory=list)
    leased: int = 0
    messages: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def instance_id(self) -> str:
        return self.commit.instance_id


async def commit_episode(
    tx: Tx, commit: EpisodeCommit, eager: ClaimSpec | None, eager_limit: int
) -> list[ActivityWorkItem]:
    continue_as_new = rules.check_commit(commit)
    row = await _guard(tx, commit)
    tx.now = now = row["tx_now"]
    episode = _Episode(tx, commit, row, now, eager, eager_limit, continue_as_new)
    if continue_as_new is None:
        await _append_history(tx, commit)
    if commit.consumed:
        await tx.conn.execute(
            "DELETE FROM inbox WHERE id = ANY($1::bigint[])", list(commit.consumed)
        )
    for action in commit.actions:
        await _HANDLERS[type(action)](episode, action)
    claimed = await schedule_activities(tx, episode.activities)
    await insert_messages(tx, episode.messages, broadcast=False)  # this instance's own
    status = await _update_instance(episode)
    if status.is_terminal:
        await _finish(episode, status)
    elif continue_as_new is not None:
        await _start_next_run(episode, continue_as_new)
    if status.is_terminal:
        tx.instances.add(commit.instance_id)
        tx.finished.add(commit.instance_id)
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


async def _append_history(tx: Tx, commit: EpisodeCommit) -> None:
    rows = [(commit.instance_id, e.seq, e.kind, dump_event(e)) for e in commit.events]
    try:
        await tx.conn.executemany(
            "INSERT INTO history (instance_id, seq, kind, data) VALUES ($1, $2, $3, $4)", rows
        )
    except asyncpg.UniqueViolationError as exc:  # the split-brain guard
        raise LeaseLost(
            f"instance {commit.instance_id!r}: history seq already written by another worker"
        ) from exc


# -- actions -------------------------------------------------------------------------------------


async def _schedule_activity(episode: _Episode, action: act.ScheduleActivity) -> None:
    commit = episode.commit
    claim = rules.eager_claimer(commit, action, episode.eager, episode.leased, episode.eager_limit)
    episode.activities.append(
        activity_values(commit.instance_id, commit.execution_id, action, claim)
    )
    episode.leased += claim is not None


async def _start_timer(episode: _Episode, action: act.StartTimer) -> None:
    event = TimerFired(timestamp=action.fire_at, task_id=action.task_id)
    episode.messages.append(
        message_row(episode.instance_id, event, episode.commit.execution_id, action.fire_at)
    )


async def _cancel_timer(episode: _Episode, action: act.CancelTimer) -> None:
    await episode.tx.conn.execute(
        "DELETE FROM inbox WHERE instance_id = $1 AND kind = 'TimerFired' AND task_id = $2 "
        "AND execution_id = $3",
        episode.instance_id,
        action.task_id,
        episode.commit.execution_id,
    )


async def _start_child(episode: _Episode, action: act.StartChild) -> None:
    new = NewInstance(
        action.instance_id,
        action.name,
        action.input,
        parent_instance_id=episode.instance_id,
        parent_task_id=action.task_id,
        retry=None if action.retry is None else rules.storable_retry(action.retry),
    )
    execution_id = episode.commit.execution_id
    [(created, _)] = await insert_instances(
        episode.tx, [Creation(new, parent_execution_id=execution_id)]
    )
    if created:
        return
    event = rules.child_taken(action, episode.now)
    episode.messages.append(message_row(episode.instance_id, event, execution_id))


async def _send_event(episode: _Episode, action: act.SendEvent) -> None:
    event = EventRaised(timestamp=episode.now, name=action.name, payload=action.payload)
    await deliver(episode.tx, action.instance_id, event)  # dropped when the target is missing


async def _signal_entity(episode: _Episode, action: act.SignalEntity) -> None:
    """Entities are not stored yet (they come with their own tables); the signal is dropped."""


async def _nothing(episode: _Episode, action: act.Action) -> None:
    """Complete, Fail, MarkCanceled and ContinueAsNew act through the status (see below)."""


_HANDLERS: dict[type[act.Action], Any] = {
    act.ScheduleActivity: _schedule_activity,
    act.StartTimer: _start_timer,
    act.CancelTimer: _cancel_timer,
    act.StartChild: _start_child,
    act.SendEvent: _send_event,
    act.SignalEntity: _signal_entity,
    act.Complete: _nothing,
    act.Fail: _nothing,
    act.MarkCanceled: _nothing,
    act.ContinueAsNew: _nothing,
}


# -- status ---------------------------------------------------------------------------------------


async def _update_instance(episode: _Episode) -> Status:
    commit = episode.commit
    status = rules.row_status(commit)
    output, error = rules.outcome(commit)
    # the actions flagged the work they made; the lease given back makes work only if messages
    # arrived meanwhile (waking idle claimers for nothing would cost each a claim transaction)
    pending = await episode.tx.conn.fetchval(
        """UPDATE instances SET output = $2, error = $3, custom_status = $4, updated_at = now(),
               version = $5, status = $6, lease_owner = NULL, lease_expires_at = NULL
           WHERE instance_id = $1
           RETURNING EXISTS (SELECT 1 FROM inbox
               WHERE inbox.instance_id = $1 AND inbox.visible_at <= now())""",
        commit.instance_id,
        output,
        dump_error(error),
        commit.custom_status,
        commit.expected_version + len(commit.events),
        status.value,
    )
    if pending and not status.is_terminal:
        episode.tx.work.add(ORCHESTRATIONS)
    return status


async def _finish(episode: _Episode, status: Status) -> None:
    """A terminal status: drop pending work, tell the parent, pass a termination on."""
    tx, instance_id, row = episode.tx, episode.instance_id, episode.row
    await tx.conn.execute("DELETE FROM activities WHERE instance_id = $1", instance_id)
    await tx.conn.execute("DELETE FROM inbox WHERE instance_id = $1", instance_id)
    parent = row["parent_instance_id"]
    if parent is not None:
        event = rules.child_outcome(episode.commit, status, row["parent_task_id"], episode.now)
        await deliver(tx, parent, event, execution_id=row["parent_execution_id"])
    if status is Status.TERMINATED:
        children = await tx.conn.fetch(
            "SELECT instance_id FROM instances WHERE parent_instance_id = $1 "
            "AND NOT status = ANY($2::text[])",
            instance_id,
            TERMINAL,
        )
        event = rules.parent_terminated(instance_id, episode.now)
        for child in children:
            await deliver(tx, child["instance_id"], event)


async def _start_next_run(episode: _Episode, action: act.ContinueAsNew) -> None:
    """Continue as new: a fresh history and execution id; the start, then carried-over events,
    then the messages that arrived meanwhile (in arrival order)."""
    tx, instance_id, row = episode.tx, episode.instance_id, episode.row
    execution_id = row["execution_id"] + 1
    conn = tx.conn
    await conn.execute("DELETE FROM history WHERE instance_id = $1", instance_id)
    await conn.execute("DELETE FROM activities WHERE instance_id = $1", instance_id)
    await conn.execute(
        "UPDATE instances SET execution_id = $2, version = 0, input = $3, output = NULL, "
        "error = NULL, attempt = coalesce($4, attempt) WHERE instance_id = $1",
        instance_id,
        execution_id,
        action.input,
        action.attempt,
    )
    # run-specific messages (timers, results) belong to the old run; the others wait
    waiting = await conn.fetch(
        "DELETE FROM inbox WHERE instance_id = $1 "
        "RETURNING id, execution_id, kind, task_id, data, visible_at",
        instance_id,
    )
    starts_at = episode.now + timedelta(seconds=action.delay)
    started = rules.next_start(
        row["name"], action, row["parent_instance_id"], row["parent_task_id"], episode.now
    )
    rows = [message_row(instance_id, started, execution_id, starts_at)]
    rows += [message_row(instance_id, event, None, starts_at) for event in action.carryover]
    for message in sorted(waiting, key=lambda r: r["id"]):
        if message["execution_id"] is None:  # kept, moved behind the start (never before it)
            visible_at = max(message["visible_at"], starts_at)
            kind, task_id, data = message["kind"], message["task_id"], message["data"]
            rows.append((instance_id, None, kind, task_id, data, visible_at))
    # the next run is this worker's to take: its own claimer is woken, not other processes
    await insert_messages(tx, rows, broadcast=False)
