"""The bases of every history event (``_events``): an event's place and time, the effect it
records or completes, and the failure that travels as data.

Every event has ``seq`` (its position in the instance's history, contiguous from 0), ``timestamp``
(the episode time at which it was recorded) and ``kind`` (its class name).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A failure that travels as data: the exception type's qualified name, message, traceback."""

    error_type: str
    message: str
    traceback: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEvent:
    """Base of all history events."""

    seq: int = -1
    timestamp: datetime = EPOCH

    @property
    def kind(self) -> str:
        """The event's class name, e.g. ``"ActivityScheduled"``."""
        return type(self).__name__


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledEvent(HistoryEvent):
    """An event recorded for an effect the orchestrator yielded; replay matches it to the code."""

    task_id: int
    #: what ``NonDeterminismError`` calls this effect ("ActivityScheduled 'charge'")
    label_field: ClassVar[str | None] = None

    def label(self) -> str:
        """A short description for error messages."""
        name = getattr(self, self.label_field) if self.label_field else None
        return f"{self.kind} {name!r}" if name is not None else self.kind


@dataclass(frozen=True, slots=True, kw_only=True)
class CompletionEvent(HistoryEvent):
    """An event that resolves the effect ``task_id``."""

    task_id: int
