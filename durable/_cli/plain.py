"""An instance for ``durable status`` without loading rich (W11): its ``--json`` dict, its rows,
and the rows as plain text off a terminal.

``durable status ID`` in a script or a pipe prints a two-column key/value table with no colour;
importing rich to lay out seven short lines cost that command a sixth of its run. When every
cell is one line of printable text, :func:`plain_grid` writes exactly what rich writes there
(``render.status_table`` through ``common.show``); otherwise (a newline, a tab, a control
character, a cell long enough to fold) it answers None and rich prints the table.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from .._status import InstanceStatus, Status

#: payloads longer than this are cut in tables (``--json`` shows them whole)
CELL_CHARS = 60
#: the longest cell :func:`plain_grid` lays out (``show`` prints on 100,000 columns; rich
#: folds a longer one)
_PLAIN_CELL_AT_MOST = 10_000
#: rich's two-column table without edges: one space of padding each side of the gap
_GAP = "  "


def time_text(moment: datetime | None, *, precise: bool = False) -> str:
    """A UTC time as ``2024-05-01 12:00:03`` (with milliseconds when ``precise``)."""
    if moment is None:
        return ""
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f" if precise else "%F %T")
    return text[:-3] if precise else text


def value_text(value: Any, limit: int | None = CELL_CHARS) -> str:
    """A decoded payload as compact JSON, cut to ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


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


def status_rows(status: InstanceStatus) -> list[tuple[str, str]]:
    """``durable status``'s rows: (key, text), the optional ones only when they have a value."""
    rows = [
        ("id", status.instance_id),
        ("name", status.name),
        ("status", status.status.value),
        ("created", time_text(status.created_at, precise=True) + " UTC"),
        ("updated", time_text(status.updated_at, precise=True) + " UTC"),
    ]
    if status.input is not None:  # None: started without an argument
        rows.append(("input", value_text(status.input, limit=None)))
    if status.output is not None or status.status is Status.COMPLETED:
        rows.append(("output", value_text(status.output, limit=None)))
    if status.error is not None:
        rows.append(("error", status.error))
    if status.custom_status is not None:
        rows.append(("custom status", value_text(status.custom_status, limit=None)))
    if status.tags:
        rows.append(("tags", ", ".join(f"{k}={v}" for k, v in sorted(status.tags.items()))))
    return rows


def off_terminal(stream: TextIO | None = None) -> bool:
    """Whether rich would see no terminal on ``stream`` (default stdout, and so print no
    colour), judged as it does: ``TTY_COMPATIBLE`` and ``FORCE_COLOR`` say "terminal" or leave
    the answer to rich."""
    if "TTY_COMPATIBLE" in os.environ or "FORCE_COLOR" in os.environ:
        return False
    isatty = getattr(sys.stdout if stream is None else stream, "isatty", None)
    try:
        return isatty is not None and not isatty()
    except ValueError:  # a closed stream: let rich decide
        return False


def plain_grid(rows: Sequence[tuple[str, str]]) -> str | None:
    """``rows`` as rich prints a borderless key/value table off a terminal; None when a cell is
    not one short line of printable text (rich wraps, expands or folds it)."""
    for key, text in rows:
        cells_fit = len(key) + len(text) <= _PLAIN_CELL_AT_MOST
        if not (cells_fit and key.isascii() and key.isprintable() and text.isprintable()):
            return None
    width = max((len(key) for key, _ in rows), default=0)
    return "\n".join((key.ljust(width) + _GAP + text).rstrip() for key, text in rows).strip("\n")
