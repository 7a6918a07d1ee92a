"""Concurrent calls gathered into one database round trip (a client-side group commit).

A thousand ``client.start()`` calls at once would otherwise be a thousand statements, each
with its own commit (and its own NOTIFY, which PostgreSQL serialises). ``Batched`` queues the
calls that arrive while a batch is running and runs them together next, so a lone call runs at
once (no added latency) and a burst takes a few round trips.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

V = TypeVar("V")
R = TypeVar("R")


class Batched(Generic[V, R]):
    """``await batched(value, key)``: ``run([value, ...])[i]`` for this value, ``run`` taking
    many at once.

    ``run`` gets values of distinct keys (a key asked twice at once waits for the next batch)
    and returns one result per value, in order: an exception there is raised to that caller
    alone; if ``run`` raises, every call of that batch raises it. A call made while nothing
    runs runs at once, in its own task; the calls made while a batch runs wait for the next,
    which runs in a task of its own, so a cancelled caller never cancels the others' batch.
    """

    def __init__(
        self, run: Callable[[list[V]], Awaitable[Sequence[R | Exception]]], *, max_size: int = 500
    ) -> None:
        self._run = run
        self._max_size = max_size
        self._waiting: list[tuple[Hashable, V, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None
        #: the loop a batch is running in now (a lone call's, or the runner's), if any
        self._running: asyncio.AbstractEventLoop | None = None

    async def __call__(self, value: V, key: Hashable) -> R:
        loop = asyncio.get_running_loop()
        if self._running is not loop:  # (a batch of another, closed loop is gone with it)
            self._running = None
            self._waiting = [entry for entry in self._waiting if entry[2].get_loop() is loop]
        if self._running is None and not self._waiting:
            return await self._alone(value)
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.append((key, value, future))
        if self._running is None:
            self._start_runner()
        return await future  # a cancelled caller cancels only its own future

    async def _alone(self, value: V) -> R:
        """A call made while nothing runs: its batch of one runs in the caller's task (no hop
        to the runner's); the calls made meanwhile go to the runner when it ends."""
        self._running = asyncio.get_running_loop()
        try:
            [result] = await self._run([value])
        finally:
            self._running = None
            if self._waiting:
                self._start_runner()
        if isinstance(result, Exception):
            raise result
        return result

    def _start_runner(self) -> None:
        loop = asyncio.get_running_loop()
        self._running = loop
        self._runner = loop.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._next_batch()
                try:
                    results = await self._run([value for _, value, _ in batch])
                except Exception as exc:  # every caller of the batch gets it
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:  # this task cancelled (the loop is closing)
                    for _, _, future in [*batch, *self._waiting]:
                        future.cancel()
                    raise
                for (_, _, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._running = None

    def _next_batch(self) -> list[tuple[Hashable, V, asyncio.Future[R]]]:
        batch: list[tuple[Hashable, V, asyncio.Future[R]]] = []
        keys: set[Hashable] = set()
        later: list[tuple[Hashable, V, asyncio.Future[R]]] = []
        for key, value, future in self._waiting:
            if future.done():  # its caller was cancelled before the batch ran
                continue
            if key in keys or len(batch) >= self._max_size:
                later.append((key, value, future))
            else:
                keys.add(key)
                batch.append((key, value, future))
        self._waiting = later
        return batch
