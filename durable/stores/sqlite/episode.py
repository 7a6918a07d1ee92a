"""Committing an orchestration episode in SQLite: the guard, the history, the actions, the status.

Everything here runs inside one transaction (see ``Database.write``); any exception rolls the
whole episode back, so a refused commit (``LeaseLost``) writes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ... import _actions as act
from ..._events import EventRaised, TimerFired
from ..._status import Status
from .. import commit as rules
from ..base import ActivityWorkItem, ClaimSpec, EpisodeCommit, LeaseLost, NewInstance
from . import activities
from .activities import schedule_activity
from .instances import deliver, insert_instance, insert_message
from .rows import TERMINAL_SQL, Tx, dump_error, dump_event, to_datetime, to_ts


@dataclass
class _Episode:
    tx: Tx
    commit: EpisodeCommit
    row: sqlite3.Row
    eager: ClaimSpec | None
    eager_limit: int
    claimed: list[ActivityWorkItem] = field(default_factory=list)
    continue_as_new: act.ContinueAsNew | None = None

    @property
    def instance_id(self) -> str:
        return self.commit.instance_id


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
    item: ActivityWorkItem,
    result: str,
    then: EpisodeCommit | None,
    eager: ClaimSpec | None,
    eager_limit: int,
) -> tuple[bool, list[ActivityWorkItem] | None]:
    """``Store.complete_activity``: the attempt's row goes; the completion joins ``then``'s
    commit when the instance is as ``then`` expects it, else waits in the inbox."""
    finished = activities.finish(tx, item, result)
    if finished is None:
        return False, None
    instance_id, execution_id, event = finished
    if then is not None and eager is not None:
        rules.check_next(then, item)
        row = tx.one("SELECT * FROM instances WHERE instance_id = ?", (instance_id,))
        if row is not None and _takes(tx, row, then):
            return True, _commit(tx, then, row, eager, eager_limit)
    insert_message(tx, instance_id, event, execution_id=execution_id)
    return True, None


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
    tx: Tx, commit: EpisodeCommit, row: sqlite3.Row, eager: ClaimSpec | None, eager_limit: int
) -> list[ActivityWorkItem]:
    episode = _Episode(tx, commit, row, eager, eager_limit)
    episode.continue_as_new = rules.check_commit(commit)
    if episode.continue_as_new is None:
        _append_history(tx, commit)
    tx.conn.executemany("DELETE FROM inbox WHERE id = ?", [(i,) for i in commit.consumed])
    for action in commit.actions:
        _HANDLERS[type(action)](episode, action)
    status = _update_instance(episode)
    if status.is_terminal:
        _finish(episode, status)
    elif episode.continue_as_new is not None:
        _start_next_run(episode, episode.continue_as_new)
    if status != Status(row["status"]) or status.is_terminal:
        tx.instances.add(commit.instance_id)
    # the actions flagged the work they made; the lease given back makes work only if messages
    # arrived meanwhile (waking idle claimers for nothing would cost each a claim transaction)
    if not status.is_terminal and not tx.work:
        tx.work = _has_visible_messages(tx, commit.instance_id)
    return episode.claimed


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


def _append_history(tx: Tx, commit: EpisodeCommit) -> None:
    rows = [(commit.instance_id, e.seq, e.kind, dump_event(e)) for e in commit.events]
    try:
        tx.conn.executemany(
            "INSERT INTO history (instance_id, seq, kind, data) VALUES (?, ?, ?, ?)", rows
        )
    except sqlite3.IntegrityError as exc:  # the split-brain guard: that seq is written already
        raise LeaseLost(
            f"instance {commit.instance_id!r}: history seq already written by another worker"
        ) from exc


# -- actions -------------------------------------------------------------------------------------


def _schedule_activity(episode: _Episode, action: act.ScheduleActivity) -> None:
    claim = rules.eager_claimer(
        episode.commit, action, episode.eager, len(episode.claimed), episode.eager_limit
    )
    item = schedule_activity(
        episode.tx, episode.instance_id, episode.commit.execution_id, action, claim
    )
    if item is not None:
        episode.claimed.append(item)


def _start_timer(episode: _Episode, action: act.StartTimer) -> None:
    fire_at = to_ts(action.fire_at)
    event = TimerFired(timestamp=to_datetime(fire_at), task_id=action.task_id)
    insert_message(
        episode.tx,
        episode.instance_id,
        event,
        execution_id=episode.commit.execution_id,
        visible_at=fire_at,
    )


def _cancel_timer(episode: _Episode, action: act.CancelTimer) -> None:
    episode.tx.execute(
        "DELETE FROM inbox WHERE instance_id = ? AND kind = 'TimerFired' AND task_id = ? "
        "AND execution_id = ?",
        (episode.instance_id, action.task_id, episode.commit.execution_id),
    )


def _start_child(episode: _Episode, action: act.StartChild) -> None:
    new = NewInstance(
        action.instance_id,
        action.name,
        action.input,
        parent_instance_id=episode.instance_id,
        parent_task_id=action.task_id,
        retry=None if action.retry is None else rules.storable_retry(action.retry),
    )
    if insert_instance(episode.tx, new, parent_execution_id=episode.commit.execution_id):
        return
    event = rules.child_taken(action, to_datetime(episode.tx.now))
    insert_message(episode.tx, episode.instance_id, event, execution_id=episode.commit.execution_id)


def _send_event(episode: _Episode, action: act.SendEvent) -> None:
    event = EventRaised(
        timestamp=to_datetime(episode.tx.now), name=action.name, payload=action.payload
    )
    deliver(episode.tx, action.instance_id, event)  # dropped when the target is missing


def _signal_entity(episode: _Episode, action: act.SignalEntity) -> None:
    """Entities are not stored yet (they come with their own tables); the signal is dropped."""


def _nothing(episode: _Episode, action: act.Action) -> None:
    """Complete, Fail, MarkCanceled and ContinueAsNew act through the status (see below)."""


_HANDLERS: dict[type[act.Action], Callable[[_Episode, Any], None]] = {
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


def _update_instance(episode: _Episode) -> Status:
    commit, tx = episode.commit, episode.tx
    status = rules.row_status(commit)
    output, error = rules.outcome(commit)
    # status is set only when it changes: assigning it at all costs an index update
    changed = status != episode.row["status"]
    tx.execute(
        _UPDATE_WITH_STATUS if changed else _UPDATE,
        (
            output,
            dump_error(error),
            commit.custom_status,
            tx.now,
            commit.expected_version + len(commit.events),
            *((status.value,) if changed else ()),
            commit.instance_id,
        ),
    )
    return status


_SET = """output = ?, error = ?, custom_status = ?, updated_at = ?, version = ?,
    lease_owner = NULL, lease_expires_at = NULL"""
_UPDATE = f"UPDATE instances SET {_SET} WHERE instance_id = ?"  # noqa: S608 (constants only)
_UPDATE_WITH_STATUS = f"UPDATE instances SET {_SET}, status = ? WHERE instance_id = ?"  # noqa: S608


def _finish(episode: _Episode, status: Status) -> None:
    """A terminal status: drop pending work, tell the parent, pass a termination on."""
    tx, instance_id = episode.tx, episode.instance_id
    tx.execute("DELETE FROM activities WHERE instance_id = ?", (instance_id,))
    tx.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))
    parent = episode.row["parent_instance_id"]
    now = to_datetime(tx.now)
    if parent is not None:
        event = rules.child_outcome(episode.commit, status, episode.row["parent_task_id"], now)
        deliver(tx, parent, event, execution_id=episode.row["parent_execution_id"])
    if status is Status.TERMINATED:
        children = tx.execute(
            f"SELECT instance_id FROM instances WHERE parent_instance_id = ? "  # noqa: S608
            f"AND status NOT IN {TERMINAL_SQL}",
            (instance_id,),
        ).fetchall()
        for (child,) in children:
            insert_message(tx, child, rules.parent_terminated(instance_id, now))


def _start_next_run(episode: _Episode, action: act.ContinueAsNew) -> None:
    """Continue as new: a fresh history and execution id; the start, then carried-over events,
    then messages that arrived meanwhile (in arrival order)."""
    tx, instance_id, row = episode.tx, episode.instance_id, episode.row
    execution_id = row["execution_id"] + 1
    for table in ("history", "activities"):
        tx.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))  # noqa: S608
    # run-specific messages (timers, results) belong to the old run
    tx.execute(
        "DELETE FROM inbox WHERE instance_id = ? AND execution_id IS NOT NULL", (instance_id,)
    )
    tx.execute(
        "UPDATE instances SET execution_id = ?, version = 0, input = ?, output = NULL, "
        "error = NULL, attempt = coalesce(?, attempt) WHERE instance_id = ?",
        (execution_id, action.input, action.attempt, instance_id),
    )
    first_new = _last_message_id(tx) + 1
    started = rules.next_start(
        row["name"], action, row["parent_instance_id"], row["parent_task_id"], to_datetime(tx.now)
    )
    starts_at = tx.now + action.delay  # nothing of the new run is visible before its start
    insert_message(tx, instance_id, started, execution_id=execution_id, visible_at=starts_at)
    for event in action.carryover:
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
