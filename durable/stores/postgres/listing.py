"""PostgreSQL: ``list_instances``, plain or through the tags' index (``stores.flow``; the walks
are SQLite's, ``stores.sqlite.listing``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg

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
    _add_filters(where, clauses, params, created="created_at", prefix="")
    params.append(max(int(where.limit), 0))
    sql = (
        f"SELECT * FROM instances WHERE {' AND '.join(clauses)} "  # noqa: S608 (no user text)
        f"ORDER BY created_at DESC, instance_id DESC LIMIT ${len(params)}"
    )
    return [instance_record(row) for row in await conn.fetch(sql, *params)]


def _add_filters(
    where: InstanceFilter, clauses: list[str], params: list[Any], *, created: str, prefix: str
) -> None:
    """Add the clause (numbered ``$n``) and parameter of each filter ``where`` gives; ``created``
    names the creation time's column (the tags' index keeps its own copy)."""
    for column, operator, value in where.conditions():
        named = created if column == "created_at" else prefix + column
        params.append(_aware(value) if isinstance(value, datetime) else value)
        clauses.append(f"{named} {operator} ${len(params)}")


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
    _add_filters(where, clauses, params, created="t.created_at", prefix="i.")
    params.append(max(int(where.limit), 0))
    sql = (
        "SELECT i.* FROM tags AS t JOIN instances AS i ON i.instance_id = t.instance_id "  # noqa: S608
        f"WHERE {' AND '.join(clauses)} "
        f"ORDER BY t.created_at DESC, t.instance_id DESC LIMIT ${len(params)}"
    )
    return [instance_record(row) for row in await conn.fetch(sql, *params)]


def _aware(moment: datetime) -> datetime:
    """A naive datetime is taken as UTC (as the SQLite store does)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
