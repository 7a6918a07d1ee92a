"""Client and InstanceHandle: start, query and control instances from any async program."""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import anyio

from . import _events as ev
from . import _faults as faults
from . import _handle_io as talk
from ._activity_client import ActivityClient
from ._entities import check_not_entity_id
from ._entity_client import EntityClient
from ._errors import (
    ConfigurationError,
    DurableError,
    InstanceAlreadyExists,
    InstanceNotFound,
    OrchestrationFailed,
    StoreError,
    TaskTimeout,
    Terminated,
)
from ._flow import check_label, check_priority, check_tags, start_time
from ._serde import DEFAULT_SERIALIZER, Serializer
from ._status import InstanceStatus, Status
from ._telemetry import TELEMETRY
from ._text import check_text
from ._worker import announce, flow, local
from .stores import open_store
from .stores.base import InstanceFilter, InstanceRecord, NewInstance, Store, check_instance_id
from .stores.flow import has_options
from .stores.workers import WorkerInfo

if TYPE_CHECKING:  # the worker's modules and the registry load when a call needs them (W11)
    from ._core.registry import App, Orchestrator
    from ._worker import rewinds

#: the longest ``result()`` waits between two reads of the status: the store wakes it when the
#: status changes (in this process at once; from other processes through its own status poll or
#: notifications), so this only bounds the wait should a wake-up be lost
_WAIT_AT_MOST = 1.0
#: how long a new instance's ``result()`` waits before its first read: a finish wakes it, but
#: one whose wake-up was lost (a listening connection that was down) is read after this
_FIRST_WAIT = 0.05


class Client(EntityClient, ActivityClient):
    """Starts orchestrations and reads or controls their instances.

    ``store`` is a URL (``sqlite:///app.db``, ``postgresql://...``, ``memory://``) or a store
    object. ``app`` (optional) lets ``start`` check names and encode inputs by the
    orchestrator's type hints, and ``result`` decode outputs by its return annotation. Use it as
    ``async with Client(...) as client:``.
    """

    def __init__(
        self, store: str | Store, *, app: App | None = None, serializer: Serializer | None = None
    ) -> None:
        self._store_arg = store
        self._store: Store | None = None
        self._owns_store = isinstance(store, str)
        self.app = app
        self.serializer = serializer or (app.serializer if app else DEFAULT_SERIALIZER)

    async def __aenter__(self) -> Client:
        if isinstance(self._store_arg, str):
            store = open_store(self._store_arg)
            await store.open()
            self._store = store
        else:
            self._store = self._store_arg
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        store, self._store = self._store, None
        if store is not None and self._owns_store:
            with anyio.CancelScope(shield=True):
                await store.close()

    @property
    def store(self) -> Store:
        """The open store."""
        if self._store is None:
            raise StoreError("the client is not open: use 'async with Client(...) as client'")
        return self._store

    async def start(
        self,
        orchestrator: Orchestrator[Any, Any] | Callable[..., Any] | str,
        *args: Any,
        instance_id: str | None = None,
        if_exists: Literal["error", "return"] = "error",
        tags: Mapping[str, str] | None = None,
        priority: int | None = None,
        fairness_key: str | None = None,
        start_at: datetime | None = None,
        start_delay: timedelta | float | None = None,
    ) -> InstanceHandle:
        """Start an instance of ``orchestrator`` with ``args``; returns its handle.

        The id is a new UUID unless given. An id in use raises ``InstanceAlreadyExists``, or with
        ``if_exists="return"`` gives the existing instance's handle (an idempotent start).
        Arguments that cannot be serialized raise ``SerializationError`` naming them, before
        anything is written.

        ``tags`` (str to str) are kept with the instance (``status().tags``, ``list(tags=)``).
        ``priority`` (lower first) and ``fairness_key`` apply to its activities on queues
        declared with ``app.queue`` (an activity's own ``with_options`` win). ``start_at`` (a
        datetime) or ``start_delay`` (a duration, on the store's clock) delay its start: it
        stays PENDING and runs nothing before then.
        """
        if if_exists not in ("error", "return"):
            raise ConfigurationError(f"if_exists={if_exists!r}: use 'error' or 'return'")
        name, fn = self._resolve(orchestrator)
        instance_id = check_instance_id(instance_id or str(uuid.uuid4()))
        check_not_entity_id(instance_id, "start(instance_id)")
        at, delay = start_time(start_at, start_delay, "start()")
        flow: dict[str, Any] = {
            "tags": check_tags(tags, "start()"),
            "priority": check_priority(priority, "start()"),
            "fairness_key": check_label(fairness_key, "start(): fairness_key", optional=True),
            "start_at": at,
            "start_delay": delay,
        }
        payload = self.serializer.encode_call(fn, name, args, {}, skip_first=True)
        mark = self.store.instance_mark(instance_id)  # taken before the instance can finish
        with TELEMETRY.start_span(name):  # its context is stored with the instance
            context = TELEMETRY.started(instance_id, name)
            if context is not None:  # saved first: the instance's first episode may read it
                await self.store.save_trace_context(instance_id, context)
            new = NewInstance(instance_id, name, payload, **flow)
            if has_options(new):  # not decided by a worker of this process: it may not run yet
                created = await self.store.create_instance(new)
            else:
                created = await local.create_instance(self.store, new)
        if not created and if_exists == "error":
            raise InstanceAlreadyExists(instance_id)
        return InstanceHandle(self, instance_id, fn, started_at_mark=mark if created else None)

    async def schedules(self) -> list[flow.ScheduleInfo]:
        """The schedules in the store (recorded by the workers of apps that declare them), each
        with its state and next runs."""
        return await flow.list_schedules(self.store)

    async def pause_schedule(self, schedule_id: str) -> None:
        """Pause a schedule: no slot starts until it is resumed."""
        await flow.pause(self.store, check_text(schedule_id, "schedule_id"), True)

    async def resume_schedule(self, schedule_id: str) -> None:
        """Resume a schedule from its next slot (the slots passed while paused are skipped)."""
        await flow.pause(self.store, check_text(schedule_id, "schedule_id"), False)

    async def trigger_schedule(self, schedule_id: str) -> InstanceHandle:
        """Start one instance of the schedule now, outside its slots."""
        instance_id = await flow.trigger(self.store, check_text(schedule_id, "schedule_id"))
        return InstanceHandle(self, instance_id, None)

    async def workers(self) -> list[WorkerInfo]:
        """The live workers (announced, and renewed lately), oldest first."""
        return await self.store.list_workers()

    def get(self, instance_id: str) -> InstanceHandle:
        """A handle for an existing instance (``InstanceNotFound`` on first use if it is not)."""
        return InstanceHandle(self, check_instance_id(instance_id), None)

    async def list(
        self,
        status: Status | str | None = None,
        name: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 100,
        tags: Mapping[str, str] | None = None,
    ) -> list[InstanceStatus]:
        """Instances matching every filter given, newest first; ``tags``: carrying every one."""
        wanted = Status(status) if status is not None else None
        check_text(name, "list(name)", optional=True)
        where = InstanceFilter(
            status=wanted,
            name=name,
            created_after=created_after,
            created_before=created_before,
            limit=limit,
            tags=check_tags(tags, "list()") or None,
        )
        records = await self.store.list_instances(where)
        return [self._status_of(record, None) for record in records]

    # -- helpers for handles -------------------------------------------------------------------

    def _resolve(self, orchestrator: Any) -> tuple[str, Callable[..., Any] | None]:
        if self.app is not None:
            found = self.app.resolve_orchestrator(orchestrator)
            return found.name, found.fn
        from ._core.registry import Orchestrator

        if isinstance(orchestrator, Orchestrator):
            return orchestrator.name, orchestrator.fn
        if isinstance(orchestrator, str) and orchestrator:
            return check_text(orchestrator, "start(orchestrator)"), None
        raise ConfigurationError(
            f"start({orchestrator!r}): pass a function registered with @app.orchestrator or its "
            "name"
        )

    def _fn_of(self, name: str) -> Callable[..., Any] | None:
        if self.app is not None and name in self.app.orchestrators:
            return self.app.orchestrators[name].fn
        return None

    def _status_of(self, record: InstanceRecord, fn: Callable[..., Any] | None) -> InstanceStatus:
        fn = fn or self._fn_of(record.name)
        decode = self.serializer.decode
        args, kwargs = self.serializer.decode_call(record.input, fn, skip_first=True)
        output = None
        if record.output is not None:
            output = decode(record.output, _output_hint(fn), path="output")
        return InstanceStatus(
            instance_id=record.instance_id,
            name=record.name,
            status=record.status,
            created_at=record.created_at,
            updated_at=record.updated_at,
            input=_shown_input(args, kwargs),
            output=output,
            error=f"{record.error.error_type}: {record.error.message}" if record.error else None,
            custom_status=(
                decode(record.custom_status, path="custom_status")
                if record.custom_status is not None
                else None
            ),
            tags=dict(record.tags),
        )


def _output_hint(fn: Callable[..., Any] | None) -> Any:
    """How ``fn``'s output decodes (``Any`` without one, and the registry stays unloaded)."""
    if fn is None:
        return Any
    from ._core.registry import orchestrator_return_hint

    return orchestrator_return_hint(fn)


def _shown_input(args: list[Any], kwargs: dict[str, Any]) -> Any:
    """An instance's input as people read it: None when it was started without arguments, the
    argument itself when there was one, a list of several (a dict of keyword arguments)."""
    if kwargs:
        return {"args": args, "kwargs": kwargs} if args else kwargs
    if len(args) == 1:
        return args[0]
    return args or None


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
            return self._client.serializer.decode(output, _output_hint(fn), path="output")
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
