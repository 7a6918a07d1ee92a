"""Shared fixtures. ``store``: an open store of each backend, private to the test."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from durable.stores import open_store
from durable.stores.base import Store

STORE_KINDS = ["sqlite", "memory"]
_memory_names = itertools.count()


def make_store(kind: str, tmp_path: Path) -> Store:
    """A new, unopened store of backend ``kind``, private to the test."""
    if kind == "sqlite":
        return open_store(f"sqlite:///{tmp_path / 'durable.db'}")
    if kind == "memory":
        return open_store(f"memory://test-{next(_memory_names)}")
    raise ValueError(f"unknown store kind {kind!r}; known: {STORE_KINDS}")


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = make_store(request.param, tmp_path)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
