"""durable: durable functions for Python asyncio.

Orchestrators are plain generator functions that yield effects (``ctx.call_activity``,
``ctx.sleep``, ``ctx.wait_for_event``, ...). Every effect's result is recorded in an append-only
history, and the orchestrator is rebuilt by replaying it after a crash, a restart or a move to
another host.
"""

from ._client import Client, InstanceHandle
from ._core.context import OrchestrationContext
from ._core.determinism import DeterminismWarning
from ._core.registry import App
from ._core.task import Task
from ._entities import EntityId
from ._errors import (
    ActivityFailed,
    Cancelled,
    ConfigurationError,
    DurableError,
    InstanceAlreadyExists,
    InstanceNotFound,
    NonDeterminismError,
    OrchestrationFailed,
    SerializationError,
    StoreError,
    TaskTimeout,
    Terminated,
)
from ._events import HistoryEvent
from ._retry import RetryPolicy
from ._serde import Serializer
from ._status import InstanceStatus, Status
from ._worker.attempts import ActivityInfo, activity_info, heartbeat
from ._worker.worker import Worker

__all__ = [
    "ActivityFailed",
    "ActivityInfo",
    "App",
    "Cancelled",
    "Client",
    "ConfigurationError",
    "DeterminismWarning",
    "DurableError",
    "EntityId",
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
    "Worker",
    "activity_info",
    "heartbeat",
]
