"""Frames: where the user's orchestrator code is, for the messages that must name its file:line.

Two views of the same question, "the innermost frame that is not durable's own": the caller of
an effect (walking out from the current frame: where a ``ctx`` method was called), and a
suspended generator (walking in along ``yield from``: where an orchestrator or its helper waits).
Pure: reads frames, nothing else.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

#: the ``durable`` package's folder and a separator (so that ``durable_app/`` is not inside it)
_PACKAGE_PREFIX = str(Path(__file__).parent.parent / "_")[:-1]

Location = tuple[str, int]


def is_users(code: CodeType) -> bool:
    """True for code outside the ``durable`` package (the user's, or a library's)."""
    return not code.co_filename.startswith(_PACKAGE_PREFIX)


def caller_location() -> Location | None:
    """Where the code that called into durable is: the first frame outside the package, walking
    out from the caller of this function (a ``ctx`` method creating an effect)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and not is_users(frame.f_code):
        frame = frame.f_back
    return None if frame is None else (frame.f_code.co_filename, frame.f_lineno)


def suspended_location(gen: Generator[Any, Any, Any]) -> Location | None:
    """Where a suspended generator waits: its innermost frame outside the package, following
    ``yield from`` into helpers (``result = yield from helper(ctx)``)."""
    location = None
    inner: Any = gen
    while inner is not None:
        frame = getattr(inner, "gi_frame", None)
        if frame is not None and is_users(frame.f_code):
            location = (frame.f_code.co_filename, frame.f_lineno)
        inner = getattr(inner, "gi_yieldfrom", None)
    return location
