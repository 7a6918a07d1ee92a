"""PostgreSQL export and import of whole instances (see ``_dumps``).

An export batch is read in one REPEATABLE READ snapshot, so each instance is consistent even
while workers write; an import batch is one transaction.
"""

from __future__ import annotations

import asyncpg

from .. import rows
from ..dumps import InstanceDump
from .db import ACTIVITIES, ORCHESTRATIONS, Tx
from .flow import keep_tags


async def export_instances(tx: Tx, after: str | None, limit: int) -> list[InstanceDump]:
    conn = tx.conn
    found = await conn.fetch(
        "SELECT * FROM instances WHERE instance_id > $1 ORDER BY instance_id LIMIT $2",
        "" if after is None else after,
        max(int(limit), 0),
    )
    ids = [row["instance_id"] for row in found]
    history = await _grouped(conn, "SELECT instance_id, seq, data FROM history", "seq", ids)
    inbox = await _grouped(
        conn, "SELECT instance_id, id, data, visible_at, execution_id FROM inbox", "id", ids
    )
    activities = await _grouped(conn, "SELECT * FROM activities", "id", ids)
    return [
        rows.instance_dump(
            row, history.get(iid, []), inbox.get(iid, []), activities.get(iid, []), rows.as_is
        )
        for row, iid in zip(found, ids, strict=True)
    ]


async def _grouped(
    conn: asyncpg.Connection, select: str, order: str, ids: list[str]
) -> dict[str, list[asyncpg.Record]]:
    """The rows of these instances, grouped by instance, each group in ``order``."""
    grouped: dict[str, list[asyncpg.Record]] = {}
    if not ids:
        return grouped
    sql = f"{select} WHERE instance_id = ANY($1::text[]) ORDER BY instance_id, {order}"
    for row in await conn.fetch(sql, ids):
        grouped.setdefault(row["instance_id"], []).append(row)
    return grouped


def _insert(table: str, columns: str) -> str:
    marks = ", ".join(f"${n}" for n in range(1, columns.count(",") + 2))
    return f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608 (constants only)


_INSERT_INSTANCE = (
    _insert("instances", rows.INSTANCE_COLUMNS) + " ON CONFLICT DO NOTHING RETURNING true"
)
_INSERT_HISTORY = _insert("history", "instance_id, seq, kind, data")
_INSERT_MESSAGE = _insert("inbox", rows.MESSAGE_COLUMNS)
_INSERT_ACTIVITY = _insert("activities", rows.ACTIVITY_COLUMNS)


async def import_instances(tx: Tx, dumps: list[InstanceDump]) -> list[str]:
    skipped = []
    conn = tx.conn
    for dump in dumps:
        if not await conn.fetchval(_INSERT_INSTANCE, *rows.instance_values(dump, rows.as_is)):
            skipped.append(dump.instance_id)
            continue
        if dump.tags:
            await keep_tags(conn, dump.instance_id, dump.tags)
        await conn.executemany(_INSERT_HISTORY, rows.history_values(dump))
        await conn.executemany(_INSERT_MESSAGE, rows.message_values(dump, rows.as_is))
        await conn.executemany(_INSERT_ACTIVITY, rows.activity_values(dump, rows.as_is))
        tx.work.update((ORCHESTRATIONS, ACTIVITIES))
        tx.broadcast = tx.due = True
        if dump.status.is_terminal:
            tx.instances.add(dump.instance_id)
            tx.finished.add(dump.instance_id)
    return skipped
