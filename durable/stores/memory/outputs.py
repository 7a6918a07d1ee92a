"""Streams and update answers in memory (see ``stores.outputs``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import anyio.lowlevel

from ..._actions import RespondUpdate
from .. import hub as _hub
from ..outputs import READ_LIMIT, UpdateAnswer, positions

if TYPE_CHECKING:
    from .tables import Tables, Tx


class Outputs:
    """One store's streams and answers, kept with its tables."""

    def __init__(self) -> None:
        self.streams: dict[tuple[str, str], list[str]] = {}
        self.answers: dict[tuple[str, str], UpdateAnswer] = {}

    def append(self, tx: Tx, instance_id: str, entries: Sequence[tuple[str, str]]) -> None:
        """Append ``(key, value)`` entries to the instance's streams, in order."""
        for key, _, value in positions({}, list(entries)):
            self.streams.setdefault((instance_id, key), []).append(value)
        tx.instances.add(instance_id)

    def answer(self, tx: Tx, instance_id: str, answers: Sequence[RespondUpdate]) -> None:
        """Store the answers (a second answer to one update id keeps the first)."""
        for a in answers:
            self.answers.setdefault((instance_id, a.update_id), UpdateAnswer(a.result, a.rejection))
        tx.instances.add(instance_id)

    def forget(self, instance_id: str) -> None:
        """The instance is purged: its streams and answers go with it."""
        for table in (self.streams, self.answers):
            for pair in [pair for pair in table if pair[0] == instance_id]:
                del table[pair]


class OutputTables:
    """The ``OutputStore`` calls of ``MemoryStore`` (which sets these attributes)."""

    _db: Tables
    _waiters: _hub.Waiters
    if TYPE_CHECKING:  # the store's own

        def _write(self, fn: Callable[[Tx], None]) -> None: ...
        def _instance_key(self, instance_id: str) -> str: ...
        async def _ready(self) -> None: ...

    async def append_stream(self, instance_id: str, entries: Sequence[tuple[str, str]]) -> None:
        """See ``OutputStore.append_stream``."""
        await self._ready()
        self._write(lambda tx: self._db.outputs.append(tx, instance_id, entries))

    async def read_stream(
        self, instance_id: str, key: str, start: int, limit: int = READ_LIMIT
    ) -> list[str]:
        """See ``OutputStore.read_stream``."""
        await self._ready()
        return self._db.outputs.streams.get((instance_id, key), [])[start : start + limit]

    async def get_update_answer(self, instance_id: str, update_id: str) -> UpdateAnswer | None:
        """See ``OutputStore.get_update_answer``."""
        await self._ready()
        return self._db.outputs.answers.get((instance_id, update_id))

    async def wait_for_output(
        self, instance_id: str, timeout: float, since: int | None = None
    ) -> None:
        """See ``OutputStore.wait_for_output``: every write of the instance's wakes it."""
        await anyio.lowlevel.checkpoint()
        await self._waiters.wait(self._instance_key(instance_id), timeout, since=since)
