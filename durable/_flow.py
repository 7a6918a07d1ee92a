"""Flow control values: queue limits, priorities, fairness keys, tags and delayed starts.

Each is checked where a user hands it (``app.queue``, ``.with_options``, ``client.start``), with
an error naming the argument, so every store sees the same valid values (DESIGN sections 4, 4a).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ._durations import to_seconds
from ._errors import ConfigurationError
from ._text import check_text

#: priorities are stored in a 32-bit column on every backend
_PRIORITY_RANGE = (-(2**31), 2**31 - 1)
#: a tag key or value, and a fairness key, are short labels (they are indexed)
MAX_LABEL_LENGTH = 200
#: tags one instance may carry
MAX_TAGS = 32


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """A declared queue (``app.queue``): its limits across every worker and host, if any.

    ``concurrency``: attempts running at once; ``rate_count`` attempts started per
    ``rate_period`` seconds (a sliding window). A declared queue is also claimed in priority
    order, and round-robin between fairness keys, limited or not.
    """

    name: str
    concurrency: int | None = None
    rate_count: int | None = None
    rate_period: float | None = None


def check_queue(name: object, concurrency: object, rate: object) -> QueueLimits:
    """The limits of ``app.queue(name, concurrency=, rate=)``, checked."""
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"app.queue(name={name!r}): name must be a non-empty str")
    check_text(name, "app.queue(name)")
    what = f"app.queue({name!r})"
    if concurrency is not None and (
        not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1
    ):
        raise ConfigurationError(f"{what}: concurrency must be a positive int, got {concurrency!r}")
    count = period = None
    if rate is not None:
        if not isinstance(rate, tuple) or len(rate) != 2:
            raise ConfigurationError(
                f"{what}: rate must be a (count, period) tuple, e.g. (60, timedelta(minutes=1))"
            )
        count, period_given = rate
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ConfigurationError(f"{what}: rate count must be a positive int, got {count!r}")
        period = to_seconds(period_given, f"{what}: rate period", allow_zero=False)
    return QueueLimits(name, concurrency, count, period)


def check_priority(value: object, what: str) -> int | None:
    """A priority (an int, lower runs first) or None."""
    if value is None:
        return None
    low, high = _PRIORITY_RANGE
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigurationError(f"{what}: priority must be an int (32-bit), got {value!r}")
    return value


def check_label(value: object, what: str, *, optional: bool = False) -> str | None:
    """A fairness key, tag key or tag value: a non-empty str of at most ``MAX_LABEL_LENGTH``."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{what} must be a non-empty str, got {value!r}")
    if len(value) > MAX_LABEL_LENGTH:
        raise ConfigurationError(f"{what} is longer than {MAX_LABEL_LENGTH} characters")
    return check_text(value, what)


def check_tags(tags: object, what: str) -> dict[str, str]:
    """Tags: a mapping of str to str (at most ``MAX_TAGS``); an empty dict for None."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise ConfigurationError(f"{what}: tags must be a dict of str to str, got {tags!r}")
    if len(tags) > MAX_TAGS:
        raise ConfigurationError(f"{what}: at most {MAX_TAGS} tags, got {len(tags)}")
    checked: dict[str, str] = {}
    for key, value in tags.items():
        label = check_label(key, f"{what}: tag key {key!r}")
        assert label is not None
        checked[label] = str(check_label(value, f"{what}: tag {key!r}'s value"))
    return checked


def parse_tag(text: str) -> tuple[str, str]:
    """``"k=v"`` (the CLI's ``--tag``) as a pair; ``ConfigurationError`` without ``=``."""
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise ConfigurationError(f"--tag {text!r}: write it as key=value")
    return key, value


def start_time(start_at: object, start_delay: object, what: str) -> tuple[datetime | None, float]:
    """A delayed start: ``start_at`` (an aware datetime; a naive one is taken as UTC) or
    ``start_delay`` (a duration, counted on the store's clock), never both."""
    if start_at is not None and start_delay is not None:
        raise ConfigurationError(f"{what}: pass start_at or start_delay, not both")
    if start_delay is not None:
        return None, to_seconds(start_delay, f"{what}: start_delay", allow_zero=True)
    if start_at is None:
        return None, 0.0
    if not isinstance(start_at, datetime):
        raise ConfigurationError(f"{what}: start_at must be a datetime, got {start_at!r}")
    return (start_at if start_at.tzinfo is not None else start_at.replace(tzinfo=UTC)), 0.0
