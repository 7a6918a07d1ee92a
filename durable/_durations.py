"""Durations given as a ``timedelta`` or a number of seconds, checked once for every caller."""

from __future__ import annotations

import math
from datetime import timedelta

from ._errors import ConfigurationError


def to_timedelta(value: object, what: str, *, allow_zero: bool) -> timedelta:
    """``value`` as a timedelta; ``ConfigurationError`` starting with ``what`` when it is not a
    finite, non-negative (or, without ``allow_zero``, positive) duration."""
    rule = "must be zero or positive" if allow_zero else "must be positive"
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
        if not math.isfinite(seconds) or abs(seconds) > timedelta.max.total_seconds():
            raise ConfigurationError(f"{what} must be a finite number of seconds")
        result = timedelta(seconds=seconds)
    else:
        raise ConfigurationError(
            f"{what} is not a duration: it must be a timedelta or a number of seconds"
        )
    if result < timedelta(0) or (result == timedelta(0) and not allow_zero):
        raise ConfigurationError(f"{what} {rule}")
    return result


def to_seconds(value: object, what: str, *, allow_zero: bool) -> float:
    """Like :func:`to_timedelta`, in seconds."""
    return to_timedelta(value, what, allow_zero=allow_zero).total_seconds()
