"""Talking to a running instance: ``handle.update`` and ``handle.read_stream``.

Both wait on ``Store.wait_for_output``, which the store wakes when the instance writes a stream
value, answers an update or changes status (in this process at once; from other processes through
PostgreSQL's LISTEN, or SQLite's short poll). The mark is taken before each read, so a write that
lands between the read and the wait is never missed.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio

from . import _events as ev
from ._errors import ConfigurationError, DurableError, InstanceNotFound, TaskTimeout, UpdateRejected
from ._serde import Serializer
from ._status import Status
from ._text import check_text
from .stores.base import Store
from .stores.outputs import READ_LIMIT, UpdateAnswer

#: the longest wait between two reads: only bounds the wait should a wake-up be lost
_WAIT_AT_MOST = 1.0


async def update(
    store: Store,
    serializer: Serializer,
    instance_id: str,
    name: str,
    arg: Any,
    timeout: float | None,
) -> Any:
    """Send update ``name`` and wait for its answer (see ``InstanceHandle.update``)."""
    check_text(name, "update(name)")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ConfigurationError(f"update(timeout={timeout!r}): a positive number of seconds")
    encoded = serializer.encode(arg, path=f"update({name!r}).arg")
    deadline = anyio.current_time() + (timeout if timeout is not None else math.inf)
    await _status(store, instance_id, f"update {name!r} not delivered")
    update_id = uuid.uuid4().hex
    mark = store.instance_mark(instance_id)
    await store.send_message(
        instance_id, ev.UpdateRequested(update_id=update_id, name=name, arg=encoded)
    )
    while True:  # waits first: the answer cannot be there before the worker has run
        remaining = deadline - anyio.current_time()
        if remaining <= 0:
            raise TaskTimeout(f"update {name!r} of {instance_id!r}: no answer within {timeout} s")
        await store.wait_for_output(instance_id, min(_WAIT_AT_MOST, remaining), since=mark)
        mark = store.instance_mark(instance_id)
        answer = await store.get_update_answer(instance_id, update_id)
        if answer is None:
            status = await _status(store, instance_id, None)
            if status.is_terminal:  # its answer commits with its end, if it answered at all
                answer = await store.get_update_answer(instance_id, update_id)
                if answer is None:
                    raise DurableError(
                        f"instance {instance_id!r} ended {status} without answering update {name!r}"
                    )
        if answer is not None:
            return _answer(serializer, name, answer)


def _answer(serializer: Serializer, name: str, answer: UpdateAnswer) -> Any:
    if answer.result is None:
        raise UpdateRejected(name, answer.rejection or "rejected")
    return serializer.decode(answer.result, path=f"update {name!r} result")


async def read_stream(
    store: Store,
    serializer: Serializer,
    instance_id: str,
    key: str,
    start: int,
    with_offsets: bool,
) -> AsyncIterator[Any]:
    """Yield the values of stream ``key`` from ``start`` (see ``InstanceHandle.read_stream``)."""
    check_text(key, "read_stream(key)")
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise ConfigurationError(f"read_stream(start={start!r}): an int >= 0")
    await _status(store, instance_id, None)
    position, ended = start, False
    while True:
        mark = store.instance_mark(instance_id)
        values = await store.read_stream(instance_id, key, position)
        for value in values:
            decoded = serializer.decode(value, path=f"stream {key!r}[{position}]")
            yield (position, decoded) if with_offsets else decoded
            position += 1
        if len(values) == READ_LIMIT:
            continue
        if ended:  # the instance had ended before this read: nothing more comes
            return
        if values:
            continue
        # no value: the instance's end, read before one last read, ends the stream
        ended = (await _status(store, instance_id, None)).is_terminal
        if not ended:
            await store.wait_for_output(instance_id, _WAIT_AT_MOST, since=mark)


async def _status(store: Store, instance_id: str, refused: str | None) -> Status:
    """The instance's status; ``InstanceNotFound``, or with ``refused``, ``DurableError`` for
    an instance that has finished."""
    record = await store.get_instance(instance_id)
    if record is None:
        raise InstanceNotFound(instance_id)
    if refused is not None and record.status.is_terminal:
        raise DurableError(f"instance {instance_id!r} is {record.status}: {refused}")
    return record.status
