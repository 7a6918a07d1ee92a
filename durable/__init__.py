"""durable: durable functions for Python asyncio.

Orchestrators are plain generator functions that yield effects (``ctx.call_activity``,
``ctx.sleep``, ``ctx.wait_for_event``, ...). Every effect's result is recorded in an append-only
history, and the orchestrator is rebuilt by replaying it after a crash, a restart or a move to
another host.

Each public name is imported from its module when it is first used (PEP 562), so that the
command line, and any program that needs a few names, loads only what it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._client import Client, InstanceHandle
    from ._core.context import OrchestrationContext
    from ._core.determinism import DeterminismWarning
    from ._core.entity_calls import CriticalSection
    from ._core.registry import App
    from ._core.task import Task
    from ._core.updates import UpdateRequest
    from ._entities import DELETE, EntityId
    from ._entity_client import EntityInfo
    from ._errors import (
        ActivityFailed,
        Cancelled,
        ConfigurationError,
        DurableError,
        EntityFailed,
        InstanceAlreadyExists,
        InstanceNotFound,
        NonDeterminismError,
        OrchestrationFailed,
        SerializationError,
        StoreError,
        TaskTimeout,
        Terminated,
        UpdateRejected,
    )
    from ._events import HistoryEvent
    from ._retry import RetryPolicy
    from ._serde import Serializer
    from ._status import InstanceStatus, Status
    from ._worker.attempts import ActivityInfo, activity_info, heartbeat
    from ._worker.handoff import complete_later
    from ._worker.streams import write_stream
    from ._worker.worker import Worker

#: the module that defines each public name
_HOMES = {
    "ActivityFailed": "._errors",
    "ActivityInfo": "._worker.attempts",
    "App": "._core.registry",
    "Cancelled": "._errors",
    "Client": "._client",
    "ConfigurationError": "._errors",
    "CriticalSection": "._core.entity_calls",
    "DeterminismWarning": "._core.determinism",
    "DurableError": "._errors",
    "DELETE": "._entities",
    "EntityFailed": "._errors",
    "EntityId": "._entities",
    "EntityInfo": "._entity_client",
    "HistoryEvent": "._events",
    "InstanceAlreadyExists": "._errors",
    "InstanceHandle": "._client",
    "InstanceNotFound": "._errors",
    "InstanceStatus": "._status",
    "NonDeterminismError": "._errors",
    "OrchestrationContext": "._core.context",
    "OrchestrationFailed": "._errors",
    "RetryPolicy": "._retry",
    "SerializationError": "._errors",
    "Serializer": "._serde",
    "Status": "._status",
    "StoreError": "._errors",
    "Task": "._core.task",
    "TaskTimeout": "._errors",
    "Terminated": "._errors",
    "UpdateRejected": "._errors",
    "UpdateRequest": "._core.updates",
    "Worker": "._worker.worker",
    "activity_info": "._worker.attempts",
    "complete_later": "._worker.handoff",
    "heartbeat": "._worker.attempts",
    "write_stream": "._worker.streams",
}

#: DESIGN's public subpackages (not in ``__all__``): imported on first use too
_SUBPACKAGES = frozenset({"testing"})

# plain sorted (DESIGN's order), not ruff's constants-first order
__all__ = [  # noqa: RUF022
    "ActivityFailed",
    "ActivityInfo",
    "App",
    "Cancelled",
    "Client",
    "ConfigurationError",
    "CriticalSection",
    "DELETE",
    "DeterminismWarning",
    "DurableError",
    "EntityFailed",
    "EntityId",
    "EntityInfo",
    "HistoryEvent",
    "InstanceAlreadyExists",
    "InstanceHandle",
    "InstanceNotFound",
    "InstanceStatus",
    "NonDeterminismError",
    "OrchestrationContext",
    "OrchestrationFailed",
    "RetryPolicy",
    "SerializationError",
    "Serializer",
    "Status",
    "StoreError",
    "Task",
    "TaskTimeout",
    "Terminated",
    "UpdateRejected",
    "UpdateRequest",
    "Worker",
    "activity_info",
    "complete_later",
    "heartbeat",
    "write_stream",
]

if not TYPE_CHECKING:  # type checkers read the imports above; a __getattr__ would hide typos

    def __getattr__(name: str) -> Any:
        """Import a public name on first use (then it is an ordinary module attribute)."""
        if name in _SUBPACKAGES:  # ``durable.testing`` after a bare ``import durable``
            return importlib.import_module(f".{name}", __name__)
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module 'durable' has no attribute {name!r}")
        value = getattr(importlib.import_module(home, __name__), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
