"""Paths into values, which encoding and decoding share: the culprit of a failure is named.

A failure deep inside a value (``_Fail``) collects one path segment per container it passes
through (attributes after a dot, dict keys and list indexes in brackets), and becomes a
``SerializationError`` naming the path from its root (``order.items[2]``, ``result['k']``).
"""

from __future__ import annotations

import reprlib

from durable._errors import SerializationError

MAX_DEPTH = 256
"""Values nested deeper than this (lists, dicts, dataclasses) are refused both ways."""

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 40


class _Fail(Exception):
    """A failure deep inside a value; each container it passes through adds its path segment."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.segments: list[str] = []

    def error(self, root: str) -> SerializationError:
        return SerializationError(self.message, path=root + "".join(reversed(self.segments)))


def _got(value: object) -> str:
    return f"{type(value).__name__} ({_short.repr(value)})"
