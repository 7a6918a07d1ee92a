"""Rows to values and back for the SQLite store, and ``Tx``: what one write operation works in.

Only value types leave this layer: rows, SQL and driver types stay in the ``sqlite`` modules.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from ..._status import Status
from .. import rows
from ..base import ActivityWorkItem, InstanceRecord
from ..rows import dump_error, dump_event, dump_json, load_error, load_event, load_json

TERMINAL = tuple(sorted(status.value for status in Status if status.is_terminal))
#: SQL list of the terminal statuses, for ``status IN (...)``
TERMINAL_SQL = "(" + ", ".join(f"'{status}'" for status in TERMINAL) + ")"


@dataclass
class Tx:
    """One write operation's view of the open transaction, and whom to wake after the commit."""

    conn: sqlite3.Connection
    #: the store's clock for the whole transaction (unix seconds)
    now: float
    #: new work may be claimable (wake ``wait_for_work``)
    work: bool = False
    #: instances whose status may have changed (wake ``wait_for_instance``)
    instances: set[str] = field(default_factory=set)

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row


@lru_cache(maxsize=64)
def names_json(names: frozenset[str]) -> str:
    """A name set as a JSON array, for ``x IN (SELECT value FROM json_each(?))``."""
    return dump_json(sorted(names))


@lru_cache(maxsize=64)
def sorted_names(names: frozenset[str]) -> tuple[str, ...]:
    """A name set in order, for ``x IN (?, ?, ...)``."""
    return tuple(sorted(names))


def to_datetime(ts: float) -> datetime:
    """Unix seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


def to_ts(moment: datetime) -> float:
    """An aware datetime as unix seconds; a naive one is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def instance_record(row: sqlite3.Row) -> InstanceRecord:
    return rows.instance_record(row, to_datetime)


def activity_item(row: sqlite3.Row, worker_id: str) -> ActivityWorkItem:
    return rows.activity_item(row, worker_id, to_datetime)


#: the activities columns of an ``ActivityWorkItem``, in the order ``item_of`` reads them
ITEM_COLUMNS = (
    "id, instance_id, execution_id, task_id, name, input, queue, attempt, retry, timeout, "
    "heartbeat_timeout, heartbeat_details, scheduled_at"
)


def item_of(row: sqlite3.Row, worker_id: str) -> ActivityWorkItem:
    """``activity_item`` of a row of ``ITEM_COLUMNS``, read by position (a ``sqlite3.Row``
    finds a column by name by comparing it with each column's name in turn)."""
    return ActivityWorkItem(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        rows.load_json(row[8]),
        row[9],
        row[10],
        row[11],
        to_datetime(row[12]),
        worker_id,
    )


__all__ = [
    "ITEM_COLUMNS",
    "TERMINAL_SQL",
    "Tx",
    "activity_item",
    "dump_error",
    "dump_event",
    "dump_json",
    "instance_record",
    "item_of",
    "load_error",
    "load_event",
    "load_json",
    "names_json",
    "sorted_names",
    "to_datetime",
    "to_ts",
]
