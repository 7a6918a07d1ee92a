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
    alone; if ``run`` raises, every call of that batch raises it. Batches run in a task of
    their own, so a cancelled caller never cancels the others'.
    """

    def __init__(
        self, run: Callable[[list[V]], Awaitable[Sequence[R | Exception]]], *, max_size: int = 500
    ) -> None:
        self._run = run
        self._max_size = max_size
        self._waiting: list[tuple[Hashable, V, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def __call__(self, value: V, key: Hashable) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        if self._runner is None or self._runner.done() or self._runner.get_loop() is not loop:
            # (a runner of another, closed loop never finishes: its calls are gone with it)
            self._waiting = [entry for entry in self._waiting if entry[2].get_loop() is loop]
            self._runner = loop.create_task(self._drain())
        self._waiting.append((key, value, future))
        return await future  # a cancelled caller cancels only its own future

    async def _drain(self) -> None:
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
