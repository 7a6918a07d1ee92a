"""Committing an orchestration episode in PostgreSQL: the guard, the history, the actions.

Everything runs in the operation's one transaction (see ``Database.run``); any exception rolls
the episode back, so a refused commit (``LeaseLost``) writes nothing. The instance row is locked
(``FOR UPDATE``) before the guard reads it, so the lease and version checked are the ones the
commit replaces. The rules themselves are shared with SQLite (``_episode_rules``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from .. import _actions as act
from .._events import EventRaised, TimerFired
from .._status import Status
from . import _episode_rules as rules
from ._pg_db import Tx
from ._pg_instances import TERMINAL, deliver, insert_instances, insert_messages, message_row
from ._pg_work import activity_row, schedule_activities
from ._rows import dump_error, dump_event, dump_json, load_json
from .base import ActivityWorkItem, ClaimSpec, EpisodeCommit, LeaseLost, NewInstance


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
    claims: list[ClaimSpec | None] = field(default_factory=list)
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
    claimed = await schedule_activities(tx, episode.activities, episode.claims)
    await insert_messages(tx, episode.messages, broadcast=False)  # this instance's own
    status = await _update_instance(episode)
    if status.is_terminal:
        await _finish(episode, status)
    elif continue_as_new is not None:
        await _start_next_run(episode, continue_as_new)
    if status != Status(row["status"]) or status.is_terminal:
        tx.instances.add(commit.instance_id)
    if status.is_terminal:
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
    claim = rules.eager_claimer(
        episode.commit,
        action,
        episode.eager,
        sum(claim is not None for claim in episode.claims),
        episode.eager_limit,
    )
    execution_id = episode.commit.execution_id
    episode.activities.append(
        activity_row(episode.instance_id, execution_id, action, claim, episode.now)
    )
    episode.claims.append(claim)


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
    if (await insert_instances(episode.tx, [(new, None, execution_id)]))[0]:
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
        episode.tx.work = True
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


# -- one statement ---------------------------------------------------------------------------------

#: the actions ``commit_in_one_statement`` carries out; others need the transaction above
_SIMPLE_ACTIONS = frozenset({act.ScheduleActivity, act.StartTimer, act.Complete, act.Fail})

# The common episode as one statement (one round trip, autocommit): the guard is the UPDATE of
# the instance row, and every other write reads its RETURNING, so a refused guard writes
# nothing. A finishing episode drops the instance's activities and messages ($10); it is taken
# only for an instance with no parent (telling a parent needs the transaction). The statement's
# snapshot predates its writes: `pending` reads the inbox without the consumed messages, plus
# the timers written here that are due already.
_ONE_STATEMENT = """
WITH old AS (
    SELECT status FROM instances WHERE instance_id = $1
), guarded AS (
    UPDATE instances SET output = $5, error = $6, custom_status = $7, updated_at = now(),
        version = $8, status = $9, lease_owner = NULL, lease_expires_at = NULL
    WHERE instance_id = $1 AND lease_owner = $2 AND execution_id = $3 AND version = $4
      AND (NOT $10 OR parent_instance_id IS NULL)
    RETURNING instance_id
), history AS (
    INSERT INTO history (instance_id, seq, kind, data)
    SELECT $1, e.seq, e.kind, e.data
    FROM guarded, unnest($11::int[], $12::text[], $13::text[]) AS e(seq, kind, data)
), consumed AS (
    DELETE FROM inbox AS m USING guarded
    WHERE m.instance_id = $1 AND (m.id = ANY($14::bigint[]) OR $10)
), dropped AS (
    DELETE FROM activities AS a USING guarded WHERE $10 AND a.instance_id = $1
), scheduled AS (
    INSERT INTO activities (instance_id, execution_id, task_id, name, queue, input, attempt,
        retry, timeout, heartbeat_timeout, start_deadline, scheduled_at, visible_at,
        lease_owner, started)
    SELECT $1, $3, a.task_id, a.name, a.queue, a.input, CASE WHEN a.leased THEN 1 ELSE 0 END,
        a.retry, a.timeout, a.heartbeat_timeout, now() + a.to_start * interval '1 second',
        now(), now() + a.lease * interval '1 second', CASE WHEN a.leased THEN $15 END, a.leased
    FROM guarded, unnest($16::int[], $17::text[], $18::text[], $19::text[], $20::text[],
        $21::float8[], $22::float8[], $23::float8[], $24::float8[], $25::bool[])
        AS a(task_id, name, queue, input, retry, timeout, heartbeat_timeout, to_start, lease,
            leased)
    RETURNING id, task_id, started
), timers AS (
    INSERT INTO inbox (instance_id, execution_id, kind, task_id, data, visible_at)
    SELECT $1, $3, 'TimerFired', t.task_id, t.data, t.fire_at
    FROM guarded, unnest($26::int[], $27::text[], $28::timestamptz[]) AS t(task_id, data, fire_at)
    RETURNING visible_at
)
SELECT (SELECT status FROM old) AS old_status, now() AS tx_now,
    (SELECT array_agg(ARRAY[s.task_id, s.id]) FROM scheduled AS s WHERE s.started) AS leased,
    EXISTS (SELECT 1 FROM inbox AS m WHERE m.instance_id = $1 AND m.visible_at <= now()
            AND NOT m.id = ANY($14::bigint[]))
        OR EXISTS (SELECT 1 FROM timers WHERE timers.visible_at <= now()) AS pending,
    CASE WHEN $29 THEN pg_notify($30, $31) END AS notified
FROM guarded
"""


def fits_one_statement(commit: EpisodeCommit) -> bool:
    """Whether ``commit_in_one_statement`` can carry this commit out (it may still decline)."""
    if commit.status in (Status.TERMINATED, Status.CONTINUED_AS_NEW):
        return False
    return all(type(action) in _SIMPLE_ACTIONS for action in commit.actions)


async def commit_in_one_statement(
    tx: Tx, commit: EpisodeCommit, eager: ClaimSpec | None, eager_limit: int
) -> list[ActivityWorkItem] | None:
    """``commit_episode`` in one round trip, for a commit that ``fits_one_statement``; None
    (nothing written) when the guard refuses it or the instance has a parent to tell: the
    transaction path then commits it, or says why not."""
    rules.check_commit(commit)
    status = rules.row_status(commit)
    output, error = rules.outcome(commit)
    finishing = status.is_terminal
    activities: list[tuple[Any, ...]] = []
    claims: list[ClaimSpec | None] = []
    timers: list[tuple[int, str, datetime]] = []
    if not finishing:  # a finishing episode's new work would be dropped with the rest
        for action in commit.actions:
            if isinstance(action, act.ScheduleActivity):
                taken = sum(claim is not None for claim in claims)
                claim = rules.eager_claimer(commit, action, eager, taken, eager_limit)
                activities.append(_activity_columns(action, claim))
                claims.append(claim)
            elif isinstance(action, act.StartTimer):
                event = TimerFired(timestamp=action.fire_at, task_id=action.task_id)
                timers.append((action.task_id, dump_event(event), action.fire_at))
    unclaimed = any(claim is None for claim in claims)
    finished = [commit.instance_id] if finishing else []
    try:
        row = await tx.conn.fetchrow(
            _ONE_STATEMENT,
            commit.instance_id,
            commit.worker_id,
            commit.execution_id,
            commit.expected_version,
            output,
            dump_error(error),
            commit.custom_status,
            commit.expected_version + len(commit.events),
            status.value,
            finishing,
            [event.seq for event in commit.events],
            [event.kind for event in commit.events],
            [dump_event(event) for event in commit.events],
            list(commit.consumed),
            None if eager is None else eager.worker_id,
            *_columns(activities, 10),
            *_columns(timers, 3),
            unclaimed or finishing,
            tx.channel,
            tx.payload(unclaimed, finished),
        )
    except asyncpg.UniqueViolationError as exc:  # the split-brain guard
        raise LeaseLost(
            f"instance {commit.instance_id!r}: history seq already written by another worker"
        ) from exc
    if row is None:
        return None
    tx.now = row["tx_now"]
    tx.work = unclaimed or (row["pending"] and not finishing)
    if finishing or status != Status(row["old_status"]):
        tx.instances.add(commit.instance_id)
    ids = dict(row["leased"] or ())  # task id: activity id
    return [
        _leased_item(commit, columns, ids[columns[0]], claim.worker_id, tx.now)
        for columns, claim in zip(activities, claims, strict=True)
        if claim is not None
    ]


def _activity_columns(action: act.ScheduleActivity, claim: ClaimSpec | None) -> tuple[Any, ...]:
    """One activity's values in ``_ONE_STATEMENT``'s unnest order ($16-$25)."""
    options = action.options
    stored = None if options.retry is None else rules.storable_retry(options.retry)
    return (
        action.task_id,
        action.name,
        options.queue,
        action.input,
        None if stored is None else dump_json(stored),
        options.timeout,
        options.heartbeat_timeout,
        options.schedule_to_start_timeout,
        0.0 if claim is None else claim.lease_seconds,
        claim is not None,
    )


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as one array per column (what ``unnest`` takes)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def _leased_item(
    commit: EpisodeCommit, columns: tuple[Any, ...], activity_id: int, worker_id: str, now: datetime
) -> ActivityWorkItem:
    """The work item of an activity the statement leased (its first attempt), from its
    ``_activity_columns``."""
    task_id, name, queue, input_, retry, timeout, heartbeat_timeout = columns[:7]
    return ActivityWorkItem(
        id=activity_id,
        instance_id=commit.instance_id,
        execution_id=commit.execution_id,
        task_id=task_id,
        name=name,
        input=input_,
        queue=queue,
        attempt=1,
        retry=load_json(retry),
        timeout=timeout,
        heartbeat_timeout=heartbeat_timeout,
        heartbeat_details=None,
        scheduled_at=now,
        worker_id=worker_id,
    )
