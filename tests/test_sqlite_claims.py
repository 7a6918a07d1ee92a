"""SQLite's claims: a transaction of claims only commits without syncing the log (as PostgreSQL's
claims do), one with anything else in it syncs as the store was told; and each kind of claimer
waits for its own kind of work to fall due (an activity claimer does not wake for a timer)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

from durable._actions import StartTimer
from durable.stores.sqlite import claims
from durable.stores.sqlite.rows import Tx
from durable.stores.sqlite.store import SQLiteStore
from tests.test_store_conformance import claim, commit, create

FULL, NORMAL = 2, 1


def synchronous(tx: Tx) -> Any:
    """The sync level the running transaction commits with."""
    return tx.conn.execute("PRAGMA synchronous").fetchone()[0]


async def test_claims_alone_skip_the_sync_and_mixed_batches_keep_it(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "app.db"))
    await store.open()
    try:
        db = store._db
        assert await db.write(synchronous, "claim", flush=False) == NORMAL
        assert await db.write(synchronous, "commit") == FULL
        seen: dict[str, tuple[int, float]] = {}

        async def write(name: str, flush: bool) -> None:
            seen[name] = await db.write(lambda tx: (synchronous(tx), tx.now), name, flush=flush)

        # submitted in one turn of the loop, a claim and a commit share a transaction (the
        # group commit: one clock reading), which must sync for the commit
        async with anyio.create_task_group() as group:
            group.start_soon(write, "claim", False)
            group.start_soon(write, "commit", True)
        assert seen["claim"][1] == seen["commit"][1]
        assert seen["claim"][0] == seen["commit"][0] == FULL
        # and the connection is left as the store was opened
        level = await db.read(lambda conn, _: conn.execute("PRAGMA synchronous").fetchone()[0], "")
        assert level == FULL
    finally:
        await store.close()


async def test_a_normal_store_is_left_normal(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "app.db"), synchronous="normal")
    await store.open()
    try:
        assert await store._db.write(synchronous, "commit") == NORMAL
        assert await store._db.write(synchronous, "claim", flush=False) == NORMAL
    finally:
        await store.close()


async def test_a_timer_is_due_work_for_orchestrations_only(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "app.db"))
    await store.open()
    try:
        await create(store)
        fire_at = datetime.now(UTC) + timedelta(seconds=30)
        await commit(store, await claim(store), actions=(StartTimer(0, fire_at),))

        async def due(kind: str | None) -> float | None:
            return await store._db.read(lambda conn, now: claims.next_due(conn, now, kind), "")

        assert await due("orchestrations") == await due(None) == fire_at.timestamp()
        assert await due("activities") is None
    finally:
        await store.close()
