"""External completion: an activity hands its attempt to another system, which completes it.

The activity returns ``durable.complete_later()``; the worker then passes the attempt's lease to
an external owner, ``external:<nonce>``, where the nonce is 128 random bits made for this attempt
(``Store.hand_off_activity``), until the attempt's deadline (what is left of its ``timeout``, or
its ``heartbeat_timeout``, whichever comes first; none: it waits for ever). The token
(``durable.activity_info().token``) names the attempt: instance, run, effect, activity row,
attempt number and the nonce. Completing with it is the store's ordinary ``complete_activity``
as that owner, so it lands only while this very attempt holds the row: a token of an earlier
attempt (timed out, superseded), of another run, or with a guessed nonce can never record an
outcome over the attempt that holds the row now. A token is a bearer secret: whoever has it can
complete that one attempt, and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from dataclasses import dataclass

import anyio

from .._errors import InstanceNotFound
from .._events import ActivityCompleted, ActivityFailed, ActivityScheduled, ErrorInfo
from .._retry import RetryPolicy
from ..stores.base import ActivityWorkItem, Store
from ..stores.control import EXTERNAL_OWNER

#: the lease owner of handed-off attempts starts with this
EXTERNAL = EXTERNAL_OWNER
#: how long a completion that comes before its activity has returned waits for the hand-off
_HANDOFF_WAIT = 30.0


class CompleteLater:
    """What an activity returns to be completed later through its token."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "durable.complete_later()"


_LATER = CompleteLater()


def complete_later() -> CompleteLater:
    """Return this from an activity to leave its attempt open for an external system.

    The system completes it with ``client.complete_activity(token, result)`` or fails it with
    ``client.fail_activity(token, message)``, where ``token = durable.activity_info().token``.
    The attempt's ``timeout`` and ``heartbeat_timeout`` still apply: past them it counts as an
    attempt that ran out, and the activity runs again (with a new token).
    """
    return _LATER


@dataclass(frozen=True, slots=True)
class Token:
    """The parts of an attempt's token."""

    instance_id: str
    execution_id: int
    task_id: int
    activity_id: int
    attempt: int
    nonce: str

    @classmethod
    def new(cls, item: ActivityWorkItem) -> Token:
        """A fresh token for the attempt ``item`` (its nonce made here)."""
        nonce = secrets.token_urlsafe(16)
        return cls(item.instance_id, item.execution_id, item.task_id, item.id, item.attempt, nonce)

    @property
    def owner(self) -> str:
        """The lease owner the attempt has once handed off."""
        return EXTERNAL + self.nonce

    def encode(self) -> str:
        """The token as URL-safe text."""
        data = [
            self.instance_id,
            self.execution_id,
            self.task_id,
            self.activity_id,
            self.attempt,
            self.nonce,
        ]
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: object) -> Token:
        """The token's parts; ``InstanceNotFound`` for text that is not a token."""
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise _not_a_token(token)
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            instance_id, execution_id, task_id, activity_id, attempt, nonce = json.loads(raw)
            parts = cls(instance_id, execution_id, task_id, activity_id, attempt, nonce)
        except (ValueError, TypeError, binascii.Error) as exc:
            raise _not_a_token(token) from exc
        types = (str, int, int, int, int, str)
        values = (instance_id, execution_id, task_id, activity_id, attempt, nonce)
        if not all(type(v) is t for v, t in zip(values, types, strict=True)):
            raise _not_a_token(token)
        return parts

    def item(self, found: ActivityWorkItem) -> ActivityWorkItem:
        """The work item the token's holder records an outcome as (its attempt, its owner)."""
        return ActivityWorkItem(
            id=self.activity_id,
            instance_id=self.instance_id,
            execution_id=self.execution_id,
            task_id=self.task_id,
            name=found.name,
            input=found.input,
            queue=found.queue,
            attempt=self.attempt,
            retry=found.retry,
            timeout=found.timeout,
            heartbeat_timeout=found.heartbeat_timeout,
            heartbeat_details=found.heartbeat_details,
            scheduled_at=found.scheduled_at,
            worker_id=self.owner,
        )


def deadline(item: ActivityWorkItem, policy: RetryPolicy, started: float) -> float | None:
    """Seconds a handed-off attempt may stay open: what is left of its timeout, or its
    heartbeat timeout (no heartbeat reaches a handed-off attempt), whichever is shorter."""
    limits = []
    timeout = item.timeout or (policy.timeout.total_seconds() if policy.timeout else None)
    if timeout:
        limits.append(max(timeout - (time.monotonic() - started), 0.0))
    if item.heartbeat_timeout:
        limits.append(item.heartbeat_timeout)
    return min(limits) if limits else None


async def record(store: Store, token: str, result: str | None, error: ErrorInfo | None) -> bool:
    """Complete (``result``) or fail (``error``) the attempt of ``token``.

    True when recorded; False when ignored because the activity already has its outcome (a
    second completion); ``InstanceNotFound`` when the token names no attempt that could still
    take one (unknown, of a finished or purged instance, or of an attempt that is over).
    """
    parts = Token.decode(token)
    pause = 0.002
    with anyio.move_on_after(_HANDOFF_WAIT):
        while True:
            found = await store.find_activity(parts.activity_id)
            if found is None or not _same_attempt(found, parts):
                break
            if found.worker_id == parts.owner:
                item = parts.item(found)
                if error is None:
                    assert result is not None
                    done, _ = await store.complete_activity(item, result)
                else:
                    done = await store.fail_activity(item, error, retry_in=None)
                if done:
                    return True
            elif found.worker_id.startswith(EXTERNAL):
                break  # handed off under another nonce: not this token's
            # the activity has not returned complete_later() yet: wait for its hand-off
            await anyio.sleep(pause)
            pause = min(pause * 2, 0.1)  # it is usually a matter of milliseconds
    return await _resolved(store, parts)


def _same_attempt(found: ActivityWorkItem, parts: Token) -> bool:
    return (
        found.instance_id == parts.instance_id
        and found.execution_id == parts.execution_id
        and found.task_id == parts.task_id
        and found.attempt == parts.attempt
    )


async def _resolved(store: Store, parts: Token) -> bool:
    """False when the token's activity has its outcome already (a completion is ignored);
    otherwise the attempt is over without one: ``InstanceNotFound``."""
    record = await store.get_instance(parts.instance_id)
    gone = (
        f"activity token: attempt {parts.attempt} of effect #{parts.task_id} of instance "
        f"{parts.instance_id!r} is over"
    )
    if record is None:
        raise InstanceNotFound(parts.instance_id)
    if record.execution_id != parts.execution_id:
        raise InstanceNotFound(parts.instance_id, hint=f"{gone} (the instance has a newer run)")
    found = await store.find_activity(parts.activity_id)
    history = await store.get_history(parts.instance_id)
    scheduled = any(
        isinstance(e, ActivityScheduled) and e.task_id == parts.task_id for e in history
    )
    answered = any(
        isinstance(e, ActivityCompleted | ActivityFailed) and e.task_id == parts.task_id
        for e in history
    )
    if not scheduled:
        hint = f"activity token: instance {parts.instance_id!r} has no effect #{parts.task_id}"
        raise InstanceNotFound(parts.instance_id, hint=hint)
    if answered or (found is None and not record.status.is_terminal):
        # a row goes only with its outcome (or with the run): its message may still wait
        return False
    raise InstanceNotFound(parts.instance_id, hint=f"{gone} (timed out, or its run ended)")


def _not_a_token(token: object) -> InstanceNotFound:
    shown = str(token)[:40]
    return InstanceNotFound(shown, hint=f"{shown!r} is not an activity token")
