"""Client: start, query and control instances from any async program (``InstanceHandle``, in
``_handle``, is one instance's part)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import anyio

from ._activity_client import ActivityClient
from ._entities import check_not_entity_id
from ._entity_client import EntityClient
from ._errors import ConfigurationError, InstanceAlreadyExists, StoreError
from ._flow import check_label, check_priority, check_tags, start_time
from ._handle import InstanceHandle, output_hint
from ._serde import DEFAULT_SERIALIZER, Serializer
from ._status import InstanceStatus, Status
from ._telemetry import TELEMETRY
from ._text import check_text
from .stores import open_store
from .stores.base import InstanceFilter, InstanceRecord, NewInstance, Store, check_instance_id
from .stores.flow import has_options

if TYPE_CHECKING:  # the worker's modules and the registry load when a call needs them (W11)
    from ._core.registry import App, Orchestrator
    from ._worker import flow
    from .stores.workers import WorkerInfo


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
                from ._worker import local

                created = await local.create_instance(self.store, new)
        if not created and if_exists == "error":
            raise InstanceAlreadyExists(instance_id)
        return InstanceHandle(self, instance_id, fn, started_at_mark=mark if created else None)

    async def schedules(self) -> list[flow.ScheduleInfo]:
        """The schedules in the store (recorded by the workers of apps that declare them), each
        with its state and next runs."""
        from ._worker import flow

        return await flow.list_schedules(self.store)

    async def pause_schedule(self, schedule_id: str) -> None:
        """Pause a schedule: no slot starts until it is resumed."""
        from ._worker import flow

        await flow.pause(self.store, check_text(schedule_id, "schedule_id"), True)

    async def resume_schedule(self, schedule_id: str) -> None:
        """Resume a schedule from its next slot (the slots passed while paused are skipped)."""
        from ._worker import flow

        await flow.pause(self.store, check_text(schedule_id, "schedule_id"), False)

    async def trigger_schedule(self, schedule_id: str) -> InstanceHandle:
        """Start one instance of the schedule now, outside its slots."""
        from ._worker import flow

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
            output = decode(record.output, output_hint(fn), path="output")
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


def _shown_input(args: list[Any], kwargs: dict[str, Any]) -> Any:
    """An instance's input as people read it: None when it was started without arguments, the
    argument itself when there was one, a list of several (a dict of keyword arguments)."""
    if kwargs:
        return {"args": args, "kwargs": kwargs} if args else kwargs
    if len(args) == 1:
        return args[0]
    return args or None


#: ``InstanceHandle`` lives in ``_handle``; it is imported from here as it always was
__all__ = ["Client", "InstanceHandle"]
