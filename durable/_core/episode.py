"""Episode: what the interpreter decided for one batch of messages, for the worker to commit.

The value crosses from the core to the worker (and, as a commit plan, to the stores): the new
history events, the actions to carry out, and the run's status, result and custom status.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import _actions as act
from .. import _events as ev
from .._status import Status


@dataclass(frozen=True, slots=True)
class Episode:
    """What one ``apply`` decided: commit ``events`` and carry out ``actions`` atomically.

    ``deferred`` holds the indexes of messages not consumed (the instance is suspended or not
    started yet; or control requests after a continue-as-new, for the next run): they stay in
    the inbox. ``custom_status`` is the encoded value last set by the orchestrator. A retried
    sub-orchestration whose run failed ends ``CONTINUED_AS_NEW`` and keeps the run's ``error``
    (the instance shows why it runs again).
    """

    events: list[ev.HistoryEvent]
    actions: list[act.Action]
    status: Status
    output: str | None = None
    error: ev.ErrorInfo | None = None
    custom_status: str | None = None
    deferred: list[int] = field(default_factory=list)
