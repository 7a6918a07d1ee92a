"""How the command line shows instances and histories: tables for people, dicts for ``--json``.

Every cell is a ``rich.text.Text``, never a markup string: instance ids, names and payloads are
user data, and a ``[bold]`` inside one must print as typed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from .. import _events as ev
from .._status import InstanceStatus, Status

#: how a status is coloured in tables (plain text off a terminal)
_STATUS_STYLE = {
    Status.COMPLETED: "green",
    Status.FAILED: "red",
    Status.TERMINATED: "red",
    Status.CANCELED: "yellow",
    Status.SUSPENDED: "yellow",
    Status.RUNNING: "cyan",
    Status.PENDING: "dim",
}

#: payloads longer than this are cut in tables (``--json`` shows them whole)
_CELL_CHARS = 60


# -- values ------------------------------------------------------------------------------------


def time_text(moment: datetime | None, *, precise: bool = False) -> str:
    """A UTC time as ``2024-05-01 12:00:03`` (with milliseconds when ``precise``)."""
    if moment is None:
        return ""
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f" if precise else "%F %T")
    return text[:-3] if precise else text


def duration_text(span: timedelta) -> str:
    """A short duration: ``12 ms``, ``1.52 s``, ``3m 05s``, ``2h 03m``, ``1d 04h``."""
    seconds = span.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours:02d}h"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def value_text(value: Any, limit: int | None = _CELL_CHARS) -> str:
    """A decoded payload as compact JSON, cut to ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def _status_cell(status: Status) -> Text:
    return Text(status.value, style=_STATUS_STYLE.get(status, ""))


# -- instances ---------------------------------------------------------------------------------


def status_dict(status: InstanceStatus) -> dict[str, Any]:
    """An instance's status as a JSON-ready dict (times in ISO 8601 UTC)."""
    return {
        "instance_id": status.instance_id,
        "name": status.name,
        "status": status.status.value,
        "created_at": status.created_at.astimezone(UTC).isoformat(),
        "updated_at": status.updated_at.astimezone(UTC).isoformat(),
        "input": status.input,
        "output": status.output,
        "error": status.error,
        "custom_status": status.custom_status,
        "tags": dict(status.tags),
    }


def status_table(status: InstanceStatus) -> Table:
    """One instance as a two-column key/value table."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows: list[tuple[str, Text]] = [
        ("id", Text(status.instance_id)),
        ("name", Text(status.name)),
        ("status", _status_cell(status.status)),
        ("created", Text(time_text(status.created_at, precise=True) + " UTC")),
        ("updated", Text(time_text(status.updated_at, precise=True) + " UTC")),
    ]
    if status.input is not None:  # None: started without an argument
        rows.append(("input", Text(value_text(status.input, limit=None))))
    if status.output is not None or status.status is Status.COMPLETED:
        rows.append(("output", Text(value_text(status.output, limit=None))))
    if status.error is not None:
        rows.append(("error", Text(status.error, style="red")))
    if status.custom_status is not None:
        rows.append(("custom status", Text(value_text(status.custom_status, limit=None))))
    if status.tags:
        rows.append(("tags", Text(", ".join(f"{k}={v}" for k, v in sorted(status.tags.items())))))
    for key, value in rows:
        table.add_row(key, value)
    return table


def instances_table(statuses: Iterable[InstanceStatus]) -> Table:
    """Instances as rows (the order given: newest first from ``list``)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for header in ("ID", "NAME", "STATUS", "CREATED (UTC)", "UPDATED (UTC)"):
        table.add_column(header, no_wrap=True)
    for status in statuses:
        table.add_row(
            Text(status.instance_id),
            Text(status.name),
            _status_cell(status.status),
            Text(time_text(status.created_at)),
            Text(time_text(status.updated_at)),
        )
    return table


# -- history -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One history event as the timeline shows it."""

    seq: int
    kind: str
    name: str
    time: datetime
    duration: timedelta | None
    error: str


def _own_name(event: ev.HistoryEvent) -> str:
    """The name an event carries itself: the activity, child, event or operation name."""
    if isinstance(event, ev.ScheduledEvent) and event.label_field:
        return str(getattr(event, event.label_field))
    if isinstance(event, ev.TimerCreated):
        return f"until {time_text(event.fire_at, precise=True)}"
    if isinstance(event, ev.PatchMarker):
        return event.change_id
    name = getattr(event, "name", None)
    return name if isinstance(name, str) else ""


def _error_of(event: ev.HistoryEvent) -> str:
    error = getattr(event, "error", None)
    if isinstance(error, ev.ErrorInfo):
        attempts = getattr(event, "attempts", 1)
        after = f" (after {attempts} attempts)" if attempts > 1 else ""
        return f"{error.error_type}: {error.message}{after}"
    reason = getattr(event, "reason", None)  # terminate/cancel/suspend reasons
    return str(reason) if reason else ""


def timeline(history: Sequence[ev.HistoryEvent]) -> list[TimelineRow]:
    """The history with names resolved and durations measured.

    A completion takes the name of the effect it resolves (same ``task_id``) and the time since
    that effect was scheduled; the run's terminal event, the time since the run started.
    """
    scheduled: dict[int, ev.ScheduledEvent] = {}
    started: datetime | None = None
    rows = []
    for event in history:
        name, duration = _own_name(event), None
        if isinstance(event, ev.ScheduledEvent):
            scheduled[event.task_id] = event
        elif isinstance(event, ev.CompletionEvent) and event.task_id in scheduled:
            cause = scheduled[event.task_id]
            name, duration = _own_name(cause), event.timestamp - cause.timestamp
        elif isinstance(event, ev.ExecutionStarted):
            started = event.timestamp
        elif event.kind in ev.TERMINAL_KINDS and started is not None:
            duration = event.timestamp - started
        rows.append(
            TimelineRow(event.seq, event.kind, name, event.timestamp, duration, _error_of(event))
        )
    return rows


def history_table(rows: Iterable[TimelineRow]) -> Table:
    """The timeline as a table: seq, kind, name, time, duration, error."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("SEQ", justify="right", no_wrap=True)
    for header in ("KIND", "NAME", "TIME (UTC)", "DURATION"):
        table.add_column(header, no_wrap=True)
    table.add_column("ERROR", style="red", overflow="fold")
    for row in rows:
        table.add_row(
            Text(str(row.seq)),
            Text(row.kind),
            Text(row.name),
            Text(time_text(row.time, precise=True)),
            Text(duration_text(row.duration) if row.duration is not None else ""),
            Text(row.error),
        )
    return table
