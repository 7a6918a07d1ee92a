"""Which history events record an effect the orchestrator yielded, and which of those are done.

An activity's ``ActivityScheduled`` waits for its completion; an ``EventSent`` or a
``StreamWritten`` is done the moment it is recorded, as nothing ever answers it. The
interpreter routes events by these two groups, so a new kind of effect joins one of them here.
"""

from __future__ import annotations

from .. import _events as ev

#: effects that are done once recorded: nothing answers them
IMMEDIATE: tuple[type[ev.HistoryEvent], ...] = (
    ev.EventSent, ev.EntitySignaled, ev.EntityUnlockSent, ev.UpdateResponded, ev.StreamWritten,
)  # fmt: skip

#: every event that records an effect the orchestrator yielded
SCHEDULED: tuple[type[ev.HistoryEvent], ...] = (
    ev.ActivityScheduled, ev.TimerCreated, ev.NowRecorded, ev.SubOrchestrationScheduled,
    ev.EntityCalled, ev.EntityLockRequested, *IMMEDIATE,
)  # fmt: skip
