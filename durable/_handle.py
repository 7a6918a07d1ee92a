"""InstanceHandle: one instance, as a client sees it: await its result, read its status, send it
events and updates, read its streams, control it (``Client.start`` and ``Client.get`` make
them)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import anyio

from . import _events as ev
from . import _faults as faults
from . import _handle_io as talk
from ._errors import (
    ConfigurationError,
    DurableError,
    InstanceNotFound,
    OrchestrationFailed,
    TaskTimeout,
    Terminated,
)
from ._status import InstanceStatus, Status
from ._text import check_text
from .stores.base import InstanceRecord

if TYPE_CHECKING:
    from ._client import Client
    from ._worker import rewinds

#: the longest ``result()`` waits between two reads of the status: the store wakes it when the
#: status changes (in this process at once; from other processes through its own status poll or
#: notifications), so this only bounds the wait should a wake-up be lost
_WAIT_AT_MOST = 1.0
#: how long a new instance's ``result()`` waits before its first read: a finish wakes it, but
#: one whose wake-up was lost (a listening connection that was down) is read after this
_FIRST_WAIT = 0.05


def output_hint(fn: Callable[..., Any] | None) -> Any:
    """How ``fn``'s output decodes (``Any`` without one, and the registry stays unloaded)."""
    if fn is None:
        return Any
    from ._core.registry import orchestrator_return_hint

    return orchestrator_return_hint(fn)


class InstanceHandle:
    """A reference to one instance: await its result, read its status, control it."""

    def __init__(
        self,
        client: Client,
        instance_id: str,
        fn: Callable[..., Any] | None,
        *,
        started_at_mark: int | None = None,
    ) -> None:
        self._client = client
        self.instance_id = instance_id
        self._fn = fn
        #: the store's ``instance_mark`` taken before this client started the instance: the
        #: first ``result()`` waits before it reads (a new instance has no result yet)
        self._started_at_mark = started_at_mark

    def __repr__(self) -> str:
        return f"<InstanceHandle {self.instance_id!r}>"

    async def _record(self) -> InstanceRecord:
        record = await self._client.store.get_instance(self.instance_id)
        if record is None:
            raise InstanceNotFound(self.instance_id)
        return record

    async def status(self) -> InstanceStatus:
        """The instance's current ``InstanceStatus``; a PENDING one that no live worker serves
        says so in ``error``."""
        record = await self._record()
        status = self._client._status_of(record, self._fn)
        if record.status is Status.PENDING and status.error is None:
            from ._worker import announce  # only a PENDING instance asks (W11)

            warning = await announce.unserved(self._client.store, record.name)
            if warning is not None:
                status = dataclasses.replace(status, error=warning)
        return status

    async def result(self, timeout: float | None = None) -> Any:
        """Wait for the instance to finish and return its output.

        Raises ``OrchestrationFailed`` (with the cause's type, message and traceback),
        ``Terminated``, ``Cancelled``-as-``OrchestrationFailed``, or ``TaskTimeout`` when
        ``timeout`` seconds pass first. Follows continue-as-new to the last run.
        """
        deadline = anyio.current_time() + (timeout if timeout is not None else math.inf)
        store = self._client.store
        mark, self._started_at_mark = self._started_at_mark, None
        if mark is not None:  # a finish since the start wakes this wait at once
            first = min(_FIRST_WAIT, deadline - anyio.current_time())
            await store.wait_for_instance(self.instance_id, first, since=mark)
        while True:
            record = await self._record()
            if record.status.is_terminal:
                return self._outcome(record)
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                raise TaskTimeout(
                    f"instance {self.instance_id!r} did not finish within {timeout} s "
                    f"(it is {record.status})"
                )
            await store.wait_for_instance(self.instance_id, min(_WAIT_AT_MOST, remaining))

    def _outcome(self, record: InstanceRecord) -> Any:
        if record.status is Status.COMPLETED:
            fn = self._fn or self._client._fn_of(record.name)
            output = record.output if record.output is not None else "null"
            return self._client.serializer.decode(output, output_hint(fn), path="output")
        if record.status is Status.TERMINATED:
            reason = record.error.message if record.error else None
            raise Terminated(self.instance_id, reason)
        error = record.error or ev.ErrorInfo("durable.Cancelled", "cancelled")
        raise OrchestrationFailed(
            self.instance_id,
            error_type=error.error_type,
            message=error.message,
            traceback=error.traceback,
        )

    async def raise_event(self, name: str, payload: Any = None) -> None:
        """Deliver event ``name``; it waits in the instance until ``ctx.wait_for_event`` takes it.

        Raises ``InstanceNotFound`` for an unknown id and ``DurableError`` for an instance that
        has finished (the event would never be read).
        """
        check_text(name, "raise_event(name)")
        encoded = self._client.serializer.encode(payload, path=f"raise_event({name!r}).payload")
        await self._send(ev.EventRaised(name=name, payload=encoded), f"event {name!r}")

    async def update(self, name: str, arg: Any = None, timeout: float | None = None) -> Any:
        """Send update ``name`` with ``arg`` and wait for the orchestrator's answer.

        The orchestrator takes it with ``yield ctx.wait_for_update(name)`` (updates sent before
        are buffered, first in, first out) and answers with ``ctx.respond`` (its value is
        returned) or ``ctx.reject`` (``UpdateRejected`` is raised). ``DurableError`` when the
        instance has finished, or finishes without answering; ``TaskTimeout`` when ``timeout``
        seconds pass first (the update stays delivered).
        """
        store, serializer = self._client.store, self._client.serializer
        return await talk.update(store, serializer, self.instance_id, name, arg, timeout)

    def read_stream(
        self, key: str, start: int = 0, *, with_offsets: bool = False
    ) -> AsyncIterator[Any]:
        """``async for value in handle.read_stream(key)``: each value of stream ``key``, once,
        in order, from offset ``start``.

        Waits for more while the instance runs and ends when it has finished. Values come
        from ``ctx.write_stream`` (orchestrator) and ``durable.write_stream`` (activities);
        ``with_offsets=True`` yields ``(offset, value)`` pairs (resume with ``start=offset + 1``).
        """
        store, serializer = self._client.store, self._client.serializer
        return talk.read_stream(store, serializer, self.instance_id, key, start, with_offsets)

    async def terminate(self, reason: str | None = None) -> None:
        """End the instance TERMINATED at once: no orchestrator code runs (children too)."""
        check_text(reason, "terminate(reason)", optional=True)
        await self._send(ev.ExecutionTerminated(reason=reason), "terminate", quiet=True)

    async def suspend(self, reason: str | None = None) -> None:
        """Pause the instance: it runs nothing until resumed and keeps the events it receives."""
        check_text(reason, "suspend(reason)", optional=True)
        await self._send(ev.ExecutionSuspended(reason=reason), "suspend")

    async def resume(self) -> None:
        """Resume a suspended instance."""
        await self._send(ev.ExecutionResumed(), "resume")

    async def cancel(self, reason: str | None = None) -> None:
        """Cooperative cancellation: ``Cancelled`` is thrown into the orchestrator at its yield."""
        check_text(reason, "cancel(reason)", optional=True)
        await self._send(ev.CancelRequested(reason=reason), "cancel")

    async def rewind(self, reason: str | None = None) -> None:
        """Take a FAILED instance back to before its failure: its failed activities run again,
        its failed sub-orchestrations are rewound with it (recursively, in the same store
        transaction), and what completed is not run again (see docs/rewind.md for where the
        failure is cut). ``InstanceNotFound`` for an unknown id; ``DurableError`` when the
        instance is not FAILED (or stopped being so meanwhile).
        """
        check_text(reason, "rewind(reason)", optional=True)
        from ._worker import rewinds

        planned = await rewinds.plan(self._client.store, self.instance_id, reason)
        if not await self._client.store.rewind_instances(planned):
            raise DurableError(f"instance {self.instance_id!r} is no longer FAILED: not rewound")

    async def preview_rewind(self) -> rewinds.RewindPreview:
        """What ``rewind()`` would do, changing nothing: the instance is replayed against the
        client's ``app`` (required) up to its failure. ``NonDeterminismError`` when the code no
        longer fits the history."""
        if self._client.app is None:
            raise ConfigurationError("preview_rewind() replays the code: give Client(app=...)")
        from ._worker import rewinds

        return await rewinds.preview(self._client.app, self._client.store, self.instance_id)

    async def history(self) -> list[ev.HistoryEvent]:
        """The current run's history events, in ``seq`` order."""
        await self._record()
        return await self._client.store.get_history(self.instance_id)

    async def purge(self) -> int:
        """Delete a finished instance and its history, with its sub-orchestrations (at any
        depth), so that its id and theirs can be used again; returns how many instances were
        deleted. An instance that has not finished, or has a sub-orchestration that has not,
        raises ``DurableError`` (and nothing is deleted): terminate it first.
        """
        faults.reached("purge_mid")
        removed = await self._client.store.purge_instance(self.instance_id)
        if not removed:
            raise InstanceNotFound(self.instance_id)
        return removed

    async def _send(self, message: ev.HistoryEvent, what: str, *, quiet: bool = False) -> None:
        record = await self._record()
        if record.status.is_terminal:
            if quiet:
                return
            raise DurableError(
                f"instance {self.instance_id!r} is {record.status}: {what} not delivered"
            )
        await self._client.store.send_message(self.instance_id, message)
