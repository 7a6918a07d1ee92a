"""``durable.write_stream(key, value)`` inside an activity: values reach the store in order.

A write encodes the value at once (a value that cannot be stored fails at the call, in the
activity) and queues it; one flusher per attempt, started by the first write, appends what has
queued since its last append in one store call (a fast writer's values go in batches). The
attempt's outcome is recorded only after the flusher has written everything, so a reader sees
an activity's values before its result. Works from async activities (on the loop) and sync ones
(in a worker thread: the flusher is woken through the loop).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from typing import Any

from .._errors import DurableError, StoreError
from .._serde import Serializer
from .._text import check_text
from ..stores.base import Store

logger = logging.getLogger("durable.activity")


class StreamWriter:
    """The stream values one attempt wrote and the task that appends them."""

    def __init__(self, store: Store, serializer: Serializer, instance_id: str) -> None:
        self._store = store
        self._serializer = serializer
        self._instance_id = instance_id
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._queued: list[tuple[str, str]] = []
        #: made with the flusher (most attempts write nothing)
        self._wake: asyncio.Event | None = None
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def write(self, key: str, value: Any) -> None:
        """Queue ``value`` for stream ``key`` (from the loop or a worker thread)."""
        check_text(key, "write_stream(key)")
        encoded = self._serializer.encode(value, path=f"write_stream({key!r}).value")
        with self._lock:
            self._queued.append((key, encoded))
        if _on_loop(self._loop):
            self._kick()
        else:
            self._loop.call_soon_threadsafe(self._kick)

    def _kick(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        if self._task is None:
            self._task = self._loop.create_task(self._flush(self._wake))
        self._wake.set()

    async def _flush(self, wake: asyncio.Event) -> None:
        while True:
            await wake.wait()
            wake.clear()
            with self._lock:
                batch, self._queued = self._queued, []
            if batch:
                try:
                    await self._store.append_stream(self._instance_id, batch)
                except StoreError as exc:  # the attempt goes on; its later values may land
                    logger.warning(
                        "%d stream value(s) lost: %s",
                        len(batch),
                        exc,
                        extra={"instance_id": self._instance_id},
                    )
            if self._closing and not self._queued:
                return

    @property
    def started(self) -> bool:
        """True once a value was written (its flusher runs, or ran)."""
        return self._task is not None

    async def close(self) -> None:
        """Wait until every queued value is appended (the attempt has ended)."""
        if self._task is None or self._wake is None:
            return
        self._closing = True
        self._wake.set()
        await self._task


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


_writer: contextvars.ContextVar[StreamWriter] = contextvars.ContextVar("durable_stream_writer")


def writing(store: Store, serializer: Serializer, instance_id: str) -> _Writing:
    """Let the attempt run inside call ``durable.write_stream``; flush its values on exit."""
    return _Writing(store, serializer, instance_id)


class _Writing:
    """See ``writing``: a plain class, not a generator-based context manager, as every attempt
    enters one."""

    __slots__ = ("_token", "_writer")

    def __init__(self, store: Store, serializer: Serializer, instance_id: str) -> None:
        self._writer = StreamWriter(store, serializer, instance_id)

    async def __aenter__(self) -> None:
        self._token = _writer.set(self._writer)

    async def __aexit__(self, *exc: object) -> None:
        _writer.reset(self._token)
        if self._writer.started:  # most attempts write nothing: no task, no trip through the loop
            await asyncio.shield(self._writer.close())


def write_stream(key: str, value: Any) -> None:
    """Append ``value`` to the running instance's stream ``key``, from inside an activity.

    Clients read it with ``handle.read_stream(key)``. Values written by an attempt that fails
    stay (at-least-once: a retried attempt may write them again). Outside an activity it
    raises ``DurableError``.
    """
    writer = _writer.get(None)
    if writer is None:
        raise DurableError("durable.write_stream() can only be called while an activity runs")
    writer.write(key, value)
