"""Updates: request/response into a running instance (``ctx.wait_for_update``, ``ctx.respond``).

An update travels like an external event (``UpdateRequested``: buffered first in, first out per
name until a wait takes it, carried over ``continue_as_new``), but its wait is kept apart from
the events' by a key no event name can have (names never hold NUL). The answer is an effect
(``UpdateResponded``, recorded once) whose action stores it where the client's
``handle.update`` waits for it. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import _events as ev
from .._errors import ConfigurationError, DurableError
from .task import EventWait

#: the prefix of the wait keys of updates (see the module's docstring)
_PREFIX = "\x00update\x00"


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    """What ``yield ctx.wait_for_update(name)`` returns: answer it with ``ctx.respond(req,
    value)`` or ``ctx.reject(req, message)``.

    Attributes:
        name: the update's name.
        arg: the argument the client passed to ``handle.update`` (decoded JSON).
        id: the update's id, unique per request (the client waits on it).
    """

    name: str
    arg: Any
    id: str


class UpdateWait(EventWait):
    """Waits for the next update ``update_name``; receives it only while awaited."""

    __slots__ = ("update_name",)

    def __init__(self, update_name: str) -> None:
        super().__init__(wait_key(update_name))
        self.update_name = update_name


def wait_key(update_name: str) -> str:
    """The key under which waits and buffers of update ``update_name`` are kept."""
    return _PREFIX + update_name


def key_of(message: ev.EventRaised | ev.UpdateRequested) -> str:
    """The wait key a message goes to: an event's name, or an update's key."""
    if isinstance(message, ev.UpdateRequested):
        return wait_key(message.name)
    return message.name


def check_answerable(request: object, answered: set[str], verb: str) -> None:
    """``ctx.respond``/``ctx.reject`` take a request that ``wait_for_update`` returned, once."""
    if not isinstance(request, UpdateRequest):
        raise ConfigurationError(
            f"{verb}(request={request!r}): pass what yield ctx.wait_for_update(...) returned"
        )
    if request.id in answered:
        raise DurableError(f"{verb}: update {request.name!r} ({request.id}) was answered already")
