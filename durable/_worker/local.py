"""Starts made in a worker's own process: decided by the worker, committed with the creation.

A client and a worker in one program (a web app with its workers, a test, the benchmarks): a
start the worker can run is decided here from its ``ExecutionStarted`` alone and committed in
the transaction that creates the instance (``Store.start_instance``), so the first episode
needs no claim and no wake-up (what Temporal calls eager workflow start). The registry is the
shell's: the store only commits what it is handed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..stores.base import NewInstance, Store


class LocalStarter(Protocol):
    """A running worker that may take the starts of its process."""

    def can_start(self, name: str) -> bool:
        """Whether it runs orchestrator ``name`` and can decide a start now, on this loop."""

    async def start_here(self, store: Store, new: NewInstance) -> bool | None:
        """Create ``new`` through ``store`` with its first episode decided here: True if it was
        created, False if the id was taken, None if this worker could not decide it."""


#: running workers by their store's database (see ``_database``)
_STARTERS: dict[str, list[LocalStarter]] = {}


def _database(store: Store) -> str:
    """Which database a store object is on: its URL, but an unnamed ``memory://`` store is a
    database of its own."""
    url = store.display_url
    return f"memory://#{id(store)}" if url == "memory://" else url


def register(store: Store, starter: LocalStarter) -> Callable[[], None]:
    """Offer ``starter`` this process's starts on ``store``'s database; returns the withdrawal."""
    display_url = _database(store)
    starters = _STARTERS.setdefault(display_url, [])
    starters.append(starter)

    def withdraw() -> None:
        if starter in starters:
            starters.remove(starter)
        if not starters:
            _STARTERS.pop(display_url, None)

    return withdraw


async def create_instance(store: Store, new: NewInstance) -> bool:
    """Create ``new``: through a worker of this process that can decide its first episode (the
    workers take turns), else for any claimer. False if the id is taken."""
    starters = _STARTERS.get(_database(store), [])
    for _ in range(len(starters)):
        starter = starters.pop(0)
        starters.append(starter)
        if starter.can_start(new.name):
            created = await starter.start_here(store, new)
            if created is not None:
                return created
    return await store.create_instance(new)
