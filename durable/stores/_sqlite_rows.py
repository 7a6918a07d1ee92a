"""Rows to values and back for the SQLite store, and ``Tx``: what one write operation works in.

Only value types leave this layer: rows, SQL and driver types stay in the ``_sqlite_*`` modules.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from .._events import ErrorInfo, HistoryEvent, event_from_dict, event_to_dict
from .._status import Status
from .base import ActivityWorkItem, InstanceRecord

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


def dump_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@lru_cache(maxsize=64)
def names_json(names: frozenset[str]) -> str:
    """A name set as a JSON array, for ``x IN (SELECT value FROM json_each(?))``."""
    return dump_json(sorted(names))


def dump_event(event: HistoryEvent) -> str:
    return dump_json(event_to_dict(event))


def load_event(data: str) -> HistoryEvent:
    return event_from_dict(json.loads(data))


def dump_error(error: ErrorInfo | None) -> str | None:
    return None if error is None else dump_json(dataclasses.asdict(error))


def load_error(data: str | None) -> ErrorInfo | None:
    return None if data is None else ErrorInfo(**json.loads(data))


def load_json(data: str | None) -> dict[str, object] | None:
    if data is None:
        return None
    value: dict[str, object] = json.loads(data)
    return value


def to_datetime(ts: float) -> datetime:
    """Unix seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


def to_ts(moment: datetime) -> float:
    """An aware datetime as unix seconds; a naive one is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def instance_record(row: sqlite3.Row) -> InstanceRecord:
    return InstanceRecord(
        instance_id=row["instance_id"],
        name=row["name"],
        status=Status(row["status"]),
        input=row["input"],
        output=row["output"],
        error=load_error(row["error"]),
        custom_status=row["custom_status"],
        created_at=to_datetime(row["created_at"]),
        updated_at=to_datetime(row["updated_at"]),
        execution_id=row["execution_id"],
        version=row["version"],
        parent_instance_id=row["parent_instance_id"],
        parent_task_id=row["parent_task_id"],
    )


def activity_item(row: sqlite3.Row, worker_id: str) -> ActivityWorkItem:
    return ActivityWorkItem(
        id=row["id"],
        instance_id=row["instance_id"],
        execution_id=row["execution_id"],
        task_id=row["task_id"],
        name=row["name"],
        input=row["input"],
        queue=row["queue"],
        attempt=row["attempt"],
        retry=load_json(row["retry"]),
        timeout=row["timeout"],
        heartbeat_timeout=row["heartbeat_timeout"],
        heartbeat_details=row["heartbeat_details"],
        scheduled_at=to_datetime(row["scheduled_at"]),
        worker_id=worker_id,
    )
