"""SQLite export and import of whole instances (see ``_dumps``).

An export batch is read in one read transaction, so each instance is a consistent snapshot even
while workers write; an import batch is one write transaction.
"""

from __future__ import annotations

import sqlite3

from .. import rows
from ..dumps import InstanceDump
from .flow import keep_tags
from .rows import Tx, to_datetime, to_ts


def export_instances(conn: sqlite3.Connection, after: str | None, limit: int) -> list[InstanceDump]:
    conn.execute("BEGIN")  # one snapshot for the whole batch
    try:
        found = conn.execute(
            "SELECT * FROM instances WHERE instance_id > ? ORDER BY instance_id LIMIT ?",
            ("" if after is None else after, max(int(limit), 0)),
        ).fetchall()
        return [_dump(conn, row) for row in found]
    finally:
        conn.execute("COMMIT")


def _dump(conn: sqlite3.Connection, row: sqlite3.Row) -> InstanceDump:
    key = (row["instance_id"],)
    return rows.instance_dump(
        row,
        conn.execute(
            "SELECT seq, data FROM history WHERE instance_id = ? ORDER BY seq", key
        ).fetchall(),
        conn.execute(
            "SELECT id, data, visible_at, execution_id FROM inbox WHERE instance_id = ? "
            "ORDER BY id",
            key,
        ).fetchall(),
        conn.execute("SELECT * FROM activities WHERE instance_id = ? ORDER BY id", key).fetchall(),
        to_datetime,
    )


def _insert(table: str, columns: str) -> str:
    marks = ", ".join("?" * (columns.count(",") + 1))
    return f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608 (constants only)


_INSERT_INSTANCE = _insert("instances", rows.INSTANCE_COLUMNS) + " ON CONFLICT DO NOTHING"
_INSERT_HISTORY = _insert("history", "instance_id, seq, kind, data")
_INSERT_MESSAGE = _insert("inbox", rows.MESSAGE_COLUMNS)
_INSERT_ACTIVITY = _insert("activities", rows.ACTIVITY_COLUMNS)


def import_instances(tx: Tx, dumps: list[InstanceDump]) -> list[str]:
    skipped = []
    for dump in dumps:
        if tx.execute(_INSERT_INSTANCE, rows.instance_values(dump, to_ts)).rowcount == 0:
            skipped.append(dump.instance_id)
            continue
        if dump.tags:
            keep_tags(tx, dump.instance_id, dump.tags, to_ts(dump.created_at))
        tx.conn.executemany(_INSERT_HISTORY, rows.history_values(dump))
        tx.conn.executemany(_INSERT_MESSAGE, rows.message_values(dump, to_ts))
        tx.conn.executemany(_INSERT_ACTIVITY, rows.activity_values(dump, to_ts, int))
        tx.work = True
        tx.instances.add(dump.instance_id)
    return skipped
