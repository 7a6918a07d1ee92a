"""Instance statuses: the ``Status`` enum and the ``InstanceStatus`` snapshot clients read."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Status(enum.StrEnum):
    """The life cycle of an instance."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUSPENDED = "SUSPENDED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TERMINATED = "TERMINATED"
    CANCELED = "CANCELED"
    CONTINUED_AS_NEW = "CONTINUED_AS_NEW"

    @property
    def is_terminal(self) -> bool:
        """True when the instance has finished and will run nothing more."""
        return self in _TERMINAL


_TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.TERMINATED, Status.CANCELED})


@dataclass(frozen=True, slots=True)
class InstanceStatus:
    """A snapshot of one instance, as ``handle.status()`` and ``client.list()`` return it.

    ``input`` and ``output`` are decoded values: ``input`` is the argument the instance was
    started with (None when it had none, a list when it had several); ``error`` is the failure's
    text (or the non-determinism report of an instance held RUNNING); ``custom_status`` is the
    value the orchestrator last set with ``ctx.set_custom_status``; ``tags`` the tags it was
    started with.
    """

    instance_id: str
    name: str
    status: Status
    created_at: datetime
    updated_at: datetime
    input: Any = None
    output: Any = None
    error: str | None = None
    custom_status: Any = None
    #: the tags it was started with (``client.start(tags=...)``)
    tags: dict[str, str] = field(default_factory=dict)
