"""Named fault points for the crash tests (RELIABILITY.md section 4): a no-op unless
``DURABLE_FAULTPOINT`` is set.

``DURABLE_FAULTPOINT=name[:nth[:action]]`` makes the process die (``exit``: ``os._exit(137)``,
the default) or stop itself (``stop``: ``SIGSTOP``, for a paused-worker test) the ``nth`` time
(default 1) it reaches the point ``name``, as DBOS's ``DebugTriggers`` do. The points:

``after_claim``, ``episode_before_commit``, ``episode_after_commit_before_ack``,
``activity_done_before_commit``, ``timer_fire_commit``, ``continue_as_new_commit``,
``child_start_commit``, ``event_raise_commit`` (each: before the commit of an episode that
does that), ``purge_mid`` (a client's purge, before its store call).
"""

from __future__ import annotations

import os
import signal

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
