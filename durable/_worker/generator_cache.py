"""The worker's bounded LRU of live orchestrations, so the next episode costs O(1), not a replay."""

from __future__ import annotations

from collections import OrderedDict

from .._core.interpreter import Orchestration


class GeneratorCache:
    """Live orchestrations by instance id, least recently used first; evicted ones are closed.

    An entry is only used when it is exactly at the stored execution and history version; any
    other entry is stale (another worker moved the instance on) and is closed.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[str, tuple[int, Orchestration]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, instance_id: str, execution_id: int, version: int) -> Orchestration | None:
        """Remove and return the instance's orchestration if it is current, else None."""
        cached_execution, cached = self._entries.pop(instance_id, (0, None))
        if cached is None:
            return None
        if cached_execution == execution_id and cached.version == version:
            return cached
        cached.close()
        return None

    def take_current(self, instance_id: str, execution_id: int) -> Orchestration | None:
        """Remove and return the instance's orchestration if it is of this execution (whatever
        its version: the caller's commit checks that against the store)."""
        cached_execution, cached = self._entries.pop(instance_id, (0, None))
        if cached is None or cached_execution == execution_id:
            return cached
        cached.close()
        return None

    def put(self, execution_id: int, orchestration: Orchestration) -> None:
        """Keep a running orchestration for its next episode (finished ones are closed)."""
        if orchestration.is_finished or self._size <= 0:
            orchestration.close()
            return
        self._entries[orchestration.instance_id] = (execution_id, orchestration)
        while len(self._entries) > self._size:
            _, (_, evicted) = self._entries.popitem(last=False)
            evicted.close()

    def forget(self, instance_id: str) -> None:
        """Drop the instance (its commit was refused or it is held): the next episode replays."""
        _, cached = self._entries.pop(instance_id, (0, None))
        if cached is not None:
            cached.close()

    def clear(self) -> None:
        """Close every cached generator (the worker stops)."""
        while self._entries:
            self._entries.popitem()[1][1].close()
