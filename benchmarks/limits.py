"""Physical limits of the stores, measured in the same run as the workloads.

A single-row ``INSERT`` (100-byte text) committed on its own, as fast as one connection can:

* SQLite in WAL mode, ``synchronous=NORMAL`` and ``FULL``, through aiosqlite (the driver the
  SQLite store uses), one statement per transaction in autocommit mode: one hop to aiosqlite's
  thread per commit, the cheapest commit that driver allows;
* PostgreSQL through asyncpg from one connection, autocommit: one round trip per commit.

A store that commits once per step from one connection cannot beat these; one that batches
several steps into a commit (group commit) can, so a ratio above 1 is possible and means that.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

PAYLOAD = "x" * 100
WARM_UP_COMMITS = 200


@dataclass(frozen=True, slots=True)
class Limit:
    """One measured limit: the median and each repetition, in commits per second."""

    name: str
    per_s: float
    reps: tuple[float, ...]

    @property
    def commit_ms(self) -> float:
        """The time of one commit at that rate."""
        return 1000.0 / self.per_s


async def timed_commits(commit: Callable[[], Awaitable[object]], seconds: float) -> float:
    """Commits per second of ``commit`` over ``seconds``, after a short warm-up."""
    for _ in range(WARM_UP_COMMITS):
        await commit()
    count = 0
    began = time.perf_counter()
    deadline = began + seconds
    while True:
        await commit()
        count += 1
        # reading the clock every commit would cost more than a NORMAL-mode commit's share
        if count % 20 == 0 and time.perf_counter() >= deadline:
            return count / (time.perf_counter() - began)


async def sqlite_commits(synchronous: str, seconds: float) -> float:
    """aiosqlite single-row INSERT+COMMIT/s on a fresh WAL file."""
    folder = Path(tempfile.mkdtemp(prefix="durable-bench-limit-"))
    try:
        async with aiosqlite.connect(folder / "limit.db", isolation_level=None) as conn:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute(f"PRAGMA synchronous={synchronous}")
            await conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")

            async def commit() -> object:
                return await conn.execute("INSERT INTO t (v) VALUES (?)", (PAYLOAD,))

            return await timed_commits(commit, seconds)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def postgres_commits(url: str, seconds: float) -> float:
    """asyncpg single-row INSERT+COMMIT/s (autocommit) from one connection."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP TABLE IF EXISTS bench_limit")
        await conn.execute("CREATE TABLE bench_limit (id BIGSERIAL PRIMARY KEY, v TEXT)")

        async def commit() -> object:
            return await conn.execute("INSERT INTO bench_limit (v) VALUES ($1)", PAYLOAD)

        rate = await timed_commits(commit, seconds)
        await conn.execute("DROP TABLE bench_limit")
        return rate
    finally:
        await conn.close()


async def postgres_version(url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def measure(name: str, probe: Callable[[], Awaitable[float]], reps: int) -> Limit:
    values = [await probe() for _ in range(reps)]
    return Limit(name, statistics.median(values), tuple(values))


async def measure_all(postgres_url: str | None, seconds: float, reps: int) -> dict[str, Limit]:
    """The limits keyed ``sqlite-normal``, ``sqlite-full`` and (with a server) ``postgres``."""
    limits = {
        "sqlite-normal": await measure(
            "SQLite WAL synchronous=NORMAL (aiosqlite)",
            lambda: sqlite_commits("NORMAL", seconds),
            reps,
        ),
        "sqlite-full": await measure(
            "SQLite WAL synchronous=FULL (aiosqlite)",
            lambda: sqlite_commits("FULL", seconds),
            reps,
        ),
    }
    if postgres_url is not None:
        limits["postgres"] = await measure(
            "PostgreSQL, 1 connection (asyncpg)",
            lambda: postgres_commits(postgres_url, seconds),
            reps,
        )
    return limits
