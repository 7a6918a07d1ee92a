"""Named fault points for the crash tests (RELIABILITY.md section 4): a no-op unless
``DURABLE_FAULTPOINT`` is set.

``DURABLE_FAULTPOINT=name[:nth[:action]]`` makes the process die (``exit``: ``os._exit(137)``,
the default) or stop itself (``stop``: ``SIGSTOP``, for a paused-worker test) the ``nth`` time
(default 1) it reaches the point ``name``, as DBOS's ``DebugTriggers`` do. The points:

``after_claim``, ``episode_before_commit``, ``episode_after_commit_before_ack``,
``activity_done_before_commit``, ``timer_fire_commit``, ``continue_as_new_commit``,
``child_start_commit``, ``event_raise_commit`` (each: before the commit of an episode that
does that), ``purge_mid`` (a client's purge, before its store call).

``DURABLE_CLOCK_OFFSET=seconds`` (test-only, RELIABILITY T1) skews this process's wall clock as
durable reads it (``wall_clock``: the worker's local clock, the SQLite and memory stores'
clocks), as if its host's clock were off by that much: PostgreSQL's ``now()`` is the one clock
of leases and due times there, so workers on skewed hosts still agree.
"""

from __future__ import annotations

import os
import signal
import time

ENV = "DURABLE_FAULTPOINT"
POINTS = frozenset(
    {
        "after_claim",
        "episode_before_commit",
        "episode_after_commit_before_ack",
        "activity_done_before_commit",
        "timer_fire_commit",
        "continue_as_new_commit",
        "child_start_commit",
        "event_raise_commit",
        "purge_mid",
    }
)


def _parse(spec: str | None) -> tuple[str, int, str] | None:
    if not spec:
        return None
    name, _, rest = spec.partition(":")
    nth, _, action = rest.partition(":")
    if name not in POINTS:
        raise ValueError(f"{ENV}={spec!r}: unknown fault point {name!r}; known: {sorted(POINTS)}")
    if action not in ("", "exit", "stop"):
        raise ValueError(f"{ENV}={spec!r}: the action is exit or stop, not {action!r}")
    return name, int(nth or 1), action or "exit"


CLOCK_ENV = "DURABLE_CLOCK_OFFSET"


def _offset(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        raise ValueError(f"{CLOCK_ENV}={text!r}: a number of seconds") from None


_CLOCK_OFFSET = _offset(os.environ.get(CLOCK_ENV))


def wall_clock() -> float:
    """Unix seconds: ``time.time()``, skewed by ``DURABLE_CLOCK_OFFSET`` in a T1 test."""
    return time.time() + _CLOCK_OFFSET


_ARMED = _parse(os.environ.get(ENV))
#: True when a fault point is set (callers may skip work that only feeds ``reached``)
ARMED = _ARMED is not None
_hits = 0


def reached(name: str) -> None:
    """The process is at fault point ``name``: fail here if the environment says so."""
    global _hits
    if _ARMED is None or _ARMED[0] != name:
        return
    _hits += 1
    if _hits != _ARMED[1]:
        return
    if _ARMED[2] == "stop":
        os.kill(os.getpid(), signal.SIGSTOP)
        return
    os._exit(137)
