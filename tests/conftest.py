"""Shared fixtures.

``store``: an open store of each backend, private to the test. ``store_url``: the URL of a
fresh store of each backend that other processes can reach too (SQLite file, PostgreSQL schema).

PostgreSQL runs as one throwaway server per test session (``tests/pg_server.py``); each test gets
its own schema in it. Without PostgreSQL binaries the PostgreSQL cases skip with a message,
unless ``DURABLE_REQUIRE_POSTGRES=1`` (set by ``make test``, so CI never skips them) makes that a
failure.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from durable.stores import open_store
from durable.stores.base import Store

from .pg_server import PostgresServer, PostgresUnavailable

#: ``DURABLE_WORKER_CACHE_SIZE=0`` runs every Worker of the session that does not set its own
#: ``cache_size`` with that one: 0 replays every episode from history (the cache-off pass of
#: tests/test_testing_cache.py)
CACHE_SIZE_ENV = "DURABLE_WORKER_CACHE_SIZE"
if os.environ.get(CACHE_SIZE_ENV):
    from durable._worker.worker import Worker

    assert Worker.__init__.__kwdefaults__ is not None
    Worker.__init__.__kwdefaults__["cache_size"] = int(os.environ[CACHE_SIZE_ENV])

STORE_KINDS = ["sqlite", "memory", "postgres"]
#: the backends other processes can share (memory:// lives in one process)
URL_KINDS = ["sqlite", "postgres"]
_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (started on first use)."""
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        if os.environ.get("DURABLE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here (DURABLE_REQUIRE_POSTGRES=1): {exc}")
        # a developer machine without PostgreSQL binaries; `make test` (and so CI) sets
        # DURABLE_REQUIRE_POSTGRES=1 and fails above instead of skipping
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    try:
        yield server
    finally:
        server.destroy()


def fresh_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of a new, empty store of backend ``kind``, private to the test."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'durable.db'}"
    if kind == "memory":
        return f"memory://test-{next(_names)}"
    if kind == "postgres":
        server: PostgresServer = request.getfixturevalue("pg_server")
        return f"{server.url}?schema=t{os.getpid()}_{next(_names)}"
    raise ValueError(f"unknown store kind {kind!r}; known: {STORE_KINDS}")


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    """A new, unopened store of backend ``kind``, private to the test."""
    return open_store(fresh_url(kind, tmp_path, request))


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = make_store(request.param, tmp_path, request)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(params=URL_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh store (not opened) that subprocesses can reach."""
    return fresh_url(request.param, tmp_path, request)
