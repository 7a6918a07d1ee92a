"""PostgreSQL: ``list_instances``, plain or through the tags' index (``stores.flow``; the walks
are SQLite's, ``stores.sqlite.listing``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg

from ..._status import Status
from ..base import InstanceFilter, InstanceRecord
from .instances import instance_record

#: how far counting a tag's instances goes to find the rarest of several tags
_COUNT_UP_TO = 2000
_COUNT = "SELECT count(*) FROM (SELECT 1 FROM tags WHERE key = $1 AND value = $2 LIMIT $3) AS t"


async def list_instances(conn: asyncpg.Connection, where: InstanceFilter) -> list[InstanceRecord]:
    """The instances ``where`` selects, newest first."""
    if where.tags:
        return await _list_tagged(conn, where)
    clauses, params = ["true"], list[Any]()
    for clause, value in _filters(where, created="created_at", prefix=""):
        if value is not None:
            params.append(value)
            clauses.append(clause.format(len(params)))
    params.append(max(int(where.limit), 0))
    sql = (
        f"SELECT * FROM instances WHERE {' AND '.join(clauses)} "  # noqa: S608 (no user text)
        f"ORDER BY created_at DESC, instance_id DESC LIMIT ${len(params)}"
    )
    return [instance_record(row) for row in await conn.fetch(sql, *params)]


def _filters(where: InstanceFilter, *, created: str, prefix: str) -> list[tuple[str, Any]]:
    """Each filter's clause (``{}``: its parameter's number) and value (None: not filtered);
    ``created`` names the creation time's column (the tags' index keeps its own copy)."""
    return [
        (f"{prefix}status = ${{}}", None if where.status is None else Status(where.status).value),
        (f"{prefix}name = ${{}}", where.name),
        (f"{created} > ${{}}", _aware(where.created_after)),
        (f"{created} < ${{}}", _aware(where.created_before)),
        (f"{prefix}updated_at < ${{}}", _aware(where.updated_before)),
    ]


async def _list_tagged(conn: asyncpg.Connection, where: InstanceFilter) -> list[InstanceRecord]:
    """Instances carrying every tag of ``where``, newest first, walking the rarest tag's index
    rows."""
    ranked = sorted((where.tags or {}).items())
    if len(ranked) > 1:  # the rarest first (counted up to a bound): the walk is shortest
        counts = [await conn.fetchval(_COUNT, k, v, _COUNT_UP_TO) for k, v in ranked]
        ranked = [tag for _, tag in sorted(zip(counts, ranked, strict=True))]
    (key, value), *others = ranked
    params: list[Any] = [key, value]
    clauses = ["t.key = $1", "t.value = $2"]
    if others:  # checked on the walked instance's row: a filter the walk cannot turn into a join
        params.append(json.dumps(dict(others)))
        clauses.append(f"i.tags::jsonb @> ${len(params)}::jsonb")
    for clause, param in _filters(where, created="t.created_at", prefix="i."):
        if param is not None:
            params.append(param)
            clauses.append(clause.format(len(params)))
    params.append(max(int(where.limit), 0))
    sql = (
        "SELECT i.* FROM tags AS t JOIN instances AS i ON i.instance_id = t.instance_id "  # noqa: S608
        f"WHERE {' AND '.join(clauses)} "
        f"ORDER BY t.created_at DESC, t.instance_id DESC LIMIT ${len(params)}"
    )
    return [instance_record(row) for row in await conn.fetch(sql, *params)]


def _aware(moment: datetime | None) -> datetime | None:
    """A naive datetime is taken as UTC (as the SQLite store does)."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
