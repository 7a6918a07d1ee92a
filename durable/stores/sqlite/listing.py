"""SQLite: ``list_instances``, plain or through the tags' index (``stores.flow``).

Both walks go newest first and stop at the filter's ``limit``: the plain one on the instances'
creation order, the tagged one on the rarest tag's index rows (in creation order), the other
tags checked by their own index (a primary key lookup each).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from ..base import InstanceFilter, InstanceRecord
from .rows import instance_record, to_ts


def list_instances(conn: sqlite3.Connection, where: InstanceFilter) -> list[InstanceRecord]:
    """The instances ``where`` selects, newest first."""
    if where.tags:
        return _list_tagged(conn, where)
    clauses, params = ["1"], list[Any]()
    _add_filters(where, clauses, params, created="created_at", prefix="")
    sql = (
        f"SELECT * FROM instances WHERE {' AND '.join(clauses)} "  # noqa: S608 (no user text)
        "ORDER BY created_at DESC, rowid DESC LIMIT ?"
    )
    rows = conn.execute(sql, (*params, max(int(where.limit), 0))).fetchall()
    return [instance_record(row) for row in rows]


def _add_filters(
    where: InstanceFilter, clauses: list[str], params: list[Any], *, created: str, prefix: str
) -> None:
    """Add the clause and parameter of each filter ``where`` gives; ``created`` names the
    creation time's column (the tags' index keeps its own copy)."""
    for column, operator, value in where.conditions():
        named = created if column == "created_at" else prefix + column
        clauses.append(f"{named} {operator} ?")
        params.append(to_ts(value) if isinstance(value, datetime) else value)


def _list_tagged(conn: sqlite3.Connection, where: InstanceFilter) -> list[InstanceRecord]:
    """Instances carrying every tag of ``where``, newest first."""
    tags = where.tags or {}
    (key, value), *others = sorted(tags.items(), key=lambda tag: _matches(conn, *tag))
    clauses = ["t.key = ?", "t.value = ?"]
    params: list[Any] = [key, value]
    for other_key, other_value in others:
        clauses.append(
            "EXISTS (SELECT 1 FROM tags AS o WHERE o.key = ? AND o.value = ? "
            "AND o.created_at = t.created_at AND o.instance_id = t.instance_id)"
        )
        params += [other_key, other_value]
    _add_filters(where, clauses, params, created="t.created_at", prefix="i.")
    sql = (
        "SELECT i.* FROM tags AS t CROSS JOIN instances AS i ON i.instance_id = t.instance_id "  # noqa: S608
        f"WHERE {' AND '.join(clauses)} ORDER BY t.created_at DESC, t.instance_id DESC LIMIT ?"
    )
    rows = conn.execute(sql, (*params, max(int(where.limit), 0))).fetchall()
    return [instance_record(row) for row in rows]


#: how far counting a tag's instances goes to find the rarest of several tags
_COUNT_UP_TO = 2000


def _matches(conn: sqlite3.Connection, key: str, value: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM tags WHERE key = ? AND value = ? LIMIT ?)",
        (key, value, _COUNT_UP_TO),
    ).fetchone()
    return int(row[0])
