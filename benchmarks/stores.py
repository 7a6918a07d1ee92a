"""Fresh stores for the benchmark: a new SQLite file or PostgreSQL schema per repetition.

PostgreSQL is one throwaway server per run (``tests/pg_server.py``, with ``fsync=on`` so that
commits reach the disk as in production), started on first use and destroyed by ``close()``.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from durable.stores import open_store

if TYPE_CHECKING:
    from tests.pg_server import PostgresServer

#: the store kinds the matrix knows, and how the table names them
STORE_NAMES = {
    "sqlite": "SQLite FULL",
    "sqlite-normal": "SQLite NORMAL",
    "postgres": "PostgreSQL",
}
#: the physical limit (``benchmarks.limits``) each store kind is measured against
LIMIT_OF = {"sqlite": "sqlite-full", "sqlite-normal": "sqlite-normal", "postgres": "postgres"}

Cleanup = Callable[[], None]


@dataclass
class Stores:
    """Hands out fresh store URLs; owns the temp directory and the PostgreSQL server."""

    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="durable-bench-")))
    server: PostgresServer | None = None
    postgres_error: str | None = None
    _names: itertools.count[int] = field(default_factory=itertools.count)

    def start_postgres(self) -> str | None:
        """Start the server (once); the reason it is unavailable, or None when it runs."""
        if self.server is None and self.postgres_error is None:
            try:
                from tests.pg_server import PostgresServer

                self.server = PostgresServer(fsync="on").start()
            except Exception as exc:  # no binaries, initdb failed, ...: the rows say why
                self.postgres_error = f"PostgreSQL server: {exc}".splitlines()[0][:200]
        return self.postgres_error

    @property
    def postgres_url(self) -> str | None:
        """The server's database URL (no schema), or None without a server."""
        return self.server.url if self.server is not None else None

    def fresh(self, kind: str) -> tuple[str, Cleanup]:
        """A URL no repetition used before, and how to remove what it leaves behind."""
        name = f"bench_{next(self._names)}"
        if kind in ("sqlite", "sqlite-normal"):
            path = self.folder / f"{name}.db"
            query = "?synchronous=normal" if kind == "sqlite-normal" else ""
            return f"sqlite:///{path}{query}", lambda: remove_sqlite(path)
        if kind == "postgres":
            base = self.postgres_url
            assert base is not None, "start_postgres() first"
            return f"{base}?schema={name}", lambda: drop_schema(base, name)
        raise ValueError(f"unknown store kind {kind!r}; known: {', '.join(STORE_NAMES)}")

    def close(self) -> None:
        """Destroy the server and the temp directory (safe to call twice)."""
        server, self.server = self.server, None
        if server is not None:
            server.destroy()
        shutil.rmtree(self.folder, ignore_errors=True)


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def drop_schema(url: str, schema: str) -> None:
    """Drop a repetition's schema, so the server's data stays small over the run."""

    async def drop() -> None:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    anyio.run(drop)


def probe(url: str) -> str | None:
    """Why the store at ``url`` cannot be opened (one line), or None when it can."""

    async def open_and_close() -> None:
        store = open_store(url)
        await store.open()
        await store.close()

    try:
        anyio.run(open_and_close)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    return None
