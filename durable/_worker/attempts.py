"""One activity attempt: async ones on the loop, sync ones in a thread; timeouts with anyio.

Also the activity-side API: ``durable.heartbeat(details)`` and ``durable.activity_info()``,
which read the running attempt from a context variable (anyio copies it into worker threads).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import math
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread

from .._core.registry import Activity
from .._errors import DurableError, SerializationError, qualified_name
from .._events import ErrorInfo
from .._retry import RetryPolicy
from .._serde import Serializer
from ..stores.base import ActivityWorkItem
from .handoff import CompleteLater, Token
from .processes import ProcessPool, error_of

logger = logging.getLogger("durable.activity")

#: the policy of an activity registered without ``retry=`` (Temporal-like: retries by default)
DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True, slots=True)
class ActivityInfo:
    """What an activity can know about the attempt running it (``durable.activity_info()``).

    ``heartbeat_details`` are the details the last attempt recorded with ``durable.heartbeat``,
    so a retried attempt can resume where the previous one stopped. ``token`` names this attempt
    for ``client.complete_activity``/``fail_activity`` after the activity returns
    ``durable.complete_later()`` (URL-safe text; whoever holds it can complete this attempt).
    """

    instance_id: str
    activity_name: str
    task_id: int
    attempt: int
    heartbeat_details: Any
    token: str = ""


class _Attempt:
    """The running attempt: its info and its latest heartbeat (read by the worker).

    Its token (and so ``info``, which carries it) is made on first use: most attempts never
    ask for it, and a token costs a random nonce and an encoding.
    """

    def __init__(self, item: ActivityWorkItem, details: Any) -> None:
        self._item = item
        self._first_details = details
        self._info: ActivityInfo | None = None
        self._token: Token | None = None
        self.started = self.last_beat = time.monotonic()
        self.details: Any = None
        self.details_pending = False
        self._scope: anyio.CancelScope | None = None
        self._limit = 0.0

    @property
    def token(self) -> Token:
        """The attempt's token (made once, under a lock: an activity's threads may race)."""
        if self._token is None:
            with _MAKING:
                if self._token is None:
                    self._token = Token.new(self._item)
        return self._token

    @property
    def info(self) -> ActivityInfo:
        """What ``durable.activity_info()`` returns for this attempt."""
        if self._info is None:
            item = self._item
            token = self.token.encode()
            self._info = ActivityInfo(
                item.instance_id, item.name, item.task_id, item.attempt, self._first_details, token
            )
        return self._info

    def watch(self, scope: anyio.CancelScope, limit: float) -> None:
        self._scope, self._limit = scope, limit

    def beat(self, details: Any) -> None:
        self.last_beat = time.monotonic()
        if self._scope is not None and _in_event_loop():
            self._scope.deadline = anyio.current_time() + self._limit
        if details is not None:
            self.details = details
            self.details_pending = True


def _in_event_loop() -> bool:
    try:
        anyio.get_current_task()
    except RuntimeError:
        return False  # a sync activity's worker thread
    return True


#: held while an attempt's token is made (see ``_Attempt.token``)
_MAKING = threading.Lock()

_current: contextvars.ContextVar[_Attempt] = contextvars.ContextVar("durable_activity")


def heartbeat(details: Any = None) -> None:
    """Record progress from inside an activity; ``details`` reach the next attempt if this one dies.

    Keeps an attempt with ``heartbeat_timeout`` alive. Outside an activity it raises
    ``DurableError``.
    """
    _attempt_or_raise("durable.heartbeat()").beat(details)


def activity_info() -> ActivityInfo:
    """The running attempt: instance id, activity name, attempt number, last heartbeat details."""
    return _attempt_or_raise("durable.activity_info()").info


def _attempt_or_raise(what: str) -> _Attempt:
    attempt = _current.get(None)
    if attempt is None:
        raise DurableError(f"{what} can only be called while an activity runs on a worker")
    return attempt


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an attempt ended: ``result`` (encoded) or ``error`` with the exception."""

    result: str | None = None
    error: ErrorInfo | None = None
    exception: BaseException | None = None
    #: the activity returned ``durable.complete_later()``: its token's holder completes it
    handoff: bool = False


class _ThreadSlot:
    """A sync attempt's token of the thread limiter; ``handed`` once its thread owns it."""

    handed = False


class AttemptRunner:
    """Runs attempts of registered activities, with a thread limiter for sync ones."""

    def __init__(
        self, serializer: Serializer, threads: int, processes: ProcessPool | None = None
    ) -> None:
        self._serializer = serializer
        #: the pool of ``executor="process"`` activities (None: the app has none)
        self.processes = processes
        #: sync attempts running, including those abandoned by a timeout whose thread runs on
        #: (a thread cannot be stopped): each keeps its token until its function returns
        self._threads = anyio.CapacityLimiter(threads)
        self._unbounded = anyio.CapacityLimiter(math.inf)  # the bound is ``_threads``
        #: threads of attempts that timed out (or were cancelled) and still run
        self.abandoned = 0

    def start(self, item: ActivityWorkItem) -> _Attempt:
        """The attempt's context (heartbeats land there) for an item about to run."""
        details = None
        if item.heartbeat_details is not None:
            details = self._serializer.decode(item.heartbeat_details, path="heartbeat_details")
        return _Attempt(item, details)

    async def run(
        self,
        activity: Activity[Any, Any],
        item: ActivityWorkItem,
        attempt: _Attempt,
        policy: RetryPolicy,
    ) -> Outcome:
        """Run one attempt to an Outcome; only cancellation of the worker propagates."""
        timeout = item.timeout or _seconds(policy.timeout)
        if activity.executor == "process" and self.processes is not None:
            result, error = await self.processes.run(activity, item, timeout)
            if error is None:
                return Outcome(result=result)
            return Outcome(error=error, exception=error_of(error))
        # a sync attempt takes its thread's slot before its time starts: waiting for a slot is
        # not running
        slot = None if activity.is_async else await self._slot()
        try:
            args, kwargs = self._serializer.decode_call(item.input, activity.fn)
            call = self._call(activity.fn, args, kwargs, attempt, item, slot)
            if timeout:
                with anyio.fail_after(timeout):
                    value = await call
            else:  # no cancel scope to enter and leave: most attempts have no timeout
                value = await call
            if isinstance(value, CompleteLater):
                return Outcome(handoff=True)
            return Outcome(result=self._serializer.encode(value, path=f"{item.name}() result"))
        except anyio.get_cancelled_exc_class():
            raise
        except TimeoutError as exc:
            message = f"activity {item.name!r} attempt {item.attempt} ran longer than {timeout} s"
            return _failure(TimeoutError(message) if not str(exc) else exc)
        except BaseException as exc:
            return _failure(exc)
        finally:
            if slot is not None and not slot.handed:  # no thread took it over
                self._threads.release_on_behalf_of(slot)

    async def _slot(self) -> _ThreadSlot:
        slot = _ThreadSlot()
        await self._threads.acquire_on_behalf_of(slot)
        return slot

    async def _call(
        self,
        fn: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        attempt: _Attempt,
        item: ActivityWorkItem,
        slot: _ThreadSlot | None,
    ) -> Any:
        token = _current.set(attempt)
        try:
            if slot is None:  # an async function (see ``run``)
                if not item.heartbeat_timeout:  # nothing to watch: no coroutine around it
                    return await fn(*args, **kwargs)
                return await self._with_heartbeat_watch(fn(*args, **kwargs), attempt, item)
            return await self._in_thread(functools.partial(fn, *args, **kwargs), item, slot)
        finally:
            _current.reset(token)

    async def _in_thread(
        self, call: Callable[[], Any], item: ActivityWorkItem, slot: _ThreadSlot
    ) -> Any:
        """Run a sync attempt in a thread that holds ``slot`` until it returns, even if the
        attempt is abandoned meanwhile: threads stay bounded, and counted."""
        slot.handed = True
        loop = asyncio.get_running_loop()
        ended = False

        def end() -> None:  # on the loop, once the function returned or raised
            nonlocal ended
            ended = True
            self._threads.release_on_behalf_of(slot)
            if abandoned:
                self.abandoned -= 1

        def run() -> Any:
            try:
                return call()
            finally:
                with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to free
                    loop.call_soon_threadsafe(end)

        abandoned = False
        try:
            # the context (with _current) is copied into the thread by anyio
            return await anyio.to_thread.run_sync(
                run, limiter=self._unbounded, abandon_on_cancel=True
            )
        except BaseException:
            if not ended:
                abandoned = True
                self.abandoned += 1
                logger.warning(
                    "activity %s attempt %d was abandoned but its thread runs on (a thread "
                    "cannot be stopped); %d such thread(s) now, each holding a slot of "
                    "max_concurrent_activities until it returns",
                    item.name,
                    item.attempt,
                    self.abandoned,
                    extra={"instance_id": item.instance_id, "activity": item.name},
                )
            raise

    async def _with_heartbeat_watch(
        self, coro: Any, attempt: _Attempt, item: ActivityWorkItem
    ) -> Any:
        limit = item.heartbeat_timeout
        assert limit  # see ``_call``
        # each heartbeat pushes the deadline back (see _Attempt.beat): silence cancels the attempt
        with anyio.CancelScope(deadline=anyio.current_time() + limit) as scope:
            attempt.watch(scope, limit)
            return await coro
        raise TimeoutError(
            f"activity {item.name!r} sent no heartbeat for {limit} s (heartbeat_timeout)"
        )


def _failure(exc: BaseException) -> Outcome:
    text = "".join(traceback.format_exception(exc))
    error = ErrorInfo(qualified_name(type(exc)), str(exc), text)
    return Outcome(error=error, exception=exc)


def _seconds(value: Any) -> float | None:
    return value.total_seconds() if value is not None else None


def retry_policy(activity: Activity[Any, Any], item: ActivityWorkItem) -> RetryPolicy:
    """The policy for this attempt: the per-call one stored with it, else the registered one."""
    if item.retry is not None:
        return RetryPolicy.from_json(item.retry)
    return activity.options.retry or DEFAULT_RETRY


def retry_delay(
    policy: RetryPolicy,
    outcome: Outcome,
    item: ActivityWorkItem | int,
    now: datetime | None = None,
) -> float | None:
    """Seconds until the next attempt of ``item``, or None when the policy gives up.

    The time elapsed is measured from the activity's scheduling (``item.scheduled_at``, when
    its first attempt became ready to start) to ``now`` (default: this host's clock), so a
    ``stop_after_delay`` policy stops. An int ``item`` is the attempt number alone (elapsed 0),
    for callers that do not pass the work item yet.
    """
    exc = outcome.exception
    if exc is None or isinstance(exc, SerializationError):
        return None  # a result that cannot be encoded will not encode next time either
    if isinstance(item, int):
        return policy.delay_after(item, exc, 0.0)
    elapsed = (now or datetime.now(UTC)) - item.scheduled_at
    return policy.delay_after(item.attempt, exc, elapsed)
