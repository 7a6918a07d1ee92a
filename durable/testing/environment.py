"""``Environment``: an app under test, with a memory store, a worker and virtual time.

    async with durable.testing.Environment(app) as env:
        env.mock_activity(charge, returns="receipt-1")
        assert await env.run(checkout, order) == {...}
        assert env.calls(charge) == [Call(("o-1", 500), {})]

Everything runs in this process and on this event loop: a ``MemoryStore`` on a ``VirtualClock``,
a ``Worker`` on the same clock, a ``Client`` on the same store. Timers, event timeouts, retry
backoffs and a continued run's delay are due in virtual time, and time jumps to the next due
time whenever an instance is awaited and nothing runs (``auto_skip``), so a 30-day sleep takes
milliseconds. Activities themselves run in real time (their ``timeout=`` too).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import anyio

from .._client import Client, InstanceHandle
from .._core.registry import App, Orchestrator
from .._errors import ConfigurationError, DurableError
from .._worker.worker import Worker
from ..stores import hub as _hub
from ..stores.memory.store import MemoryStore
from .clock import Skipper, VirtualClock, move, settle
from .mocks import _UNSET, Call, TestApp

#: seconds ``advance`` waits for the work it made due to settle
SETTLE_TIMEOUT = 30.0
_ENVIRONMENTS = itertools.count(1)


class Environment:
    """An app under test: memory store, in-process worker, virtual clock (see the module).

    Args:
        app: the app under test (its registry is copied: mocks never change it).
        auto_skip: jump virtual time to the next due time while an instance is awaited and
            nothing runs; with False, only ``advance`` moves it.
        start: the virtual time at the start (default: now).
        cache_size: the worker's generator cache (0 replays every episode from history).
        queues: activity queues the worker serves (default: every queue the app's activities
            name, and ``"default"``).
    """

    def __init__(
        self,
        app: App,
        *,
        auto_skip: bool = True,
        start: datetime | None = None,
        cache_size: int = 1000,
        queues: Iterable[str] | None = None,
    ) -> None:
        if not isinstance(app, App):
            raise ConfigurationError(f"Environment(app): expected a durable.App, got {app!r}")
        self.app = TestApp(app)
        self.auto_skip = auto_skip
        self.clock = VirtualClock(start)
        # a name of its own: starts are matched to the workers of their store by its URL
        self.store = MemoryStore(f"memory://testing-{next(_ENVIRONMENTS)}", clock=self.clock)
        served = {"default", *(a.options.queue for a in app.activities.values())}
        self.worker = Worker(
            self.app,
            self.store,
            queues=served if queues is None else queues,
            cache_size=cache_size,
            poll_interval=1.0,
            shutdown_grace=1.0,
            clock=self.clock,
        )
        self.client = Client(self.store, app=self.app)
        self._skipper = Skipper(self.clock, self.store, self.worker.spec)
        self._scope: anyio.CancelScope | None = None
        self._skipping: anyio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    # -- life cycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> Environment:
        await self.store.open()
        try:
            await self.client.__aenter__()
            await self.worker.__aenter__()
        except BaseException:
            await self.store.close()
            raise
        if self.auto_skip:
            self._start_skipper()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._scope is not None:
            self._scope.cancel()
            if self._skipping is not None:
                await self._skipping.wait()
        await self.worker.__aexit__(exc_type, exc, tb)
        await self.client.__aexit__(exc_type, exc, tb)
        await self.store.close()

    def _start_skipper(self) -> None:
        # a task of its own (as the worker's): __aenter__ and __aexit__ may run in different
        # tasks (pytest-asyncio fixtures), and a cancel scope must be left where it was entered
        done = self._skipping = anyio.Event()
        scope = self._scope = anyio.CancelScope()

        async def skip() -> None:
            try:
                with scope:
                    await self._skipper.run()
            finally:
                done.set()

        self._task = asyncio.get_running_loop().create_task(skip())

    # -- time ----------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The virtual time (aware UTC)."""
        return self.clock.datetime()

    async def advance(self, by: timedelta | float) -> None:
        """Move virtual time by ``by`` (a timedelta or seconds) and wait until the work that
        fell due meanwhile has run (each due time in turn, so that timers fire in order)."""
        seconds = by.total_seconds() if isinstance(by, timedelta) else float(by)
        if seconds < 0:
            raise ConfigurationError(f"advance({by!r}): time does not go back")
        target = self.clock() + seconds
        spec = self.worker.spec
        await settle(self.store, spec, SETTLE_TIMEOUT)
        while True:
            due = self.store.next_due()
            if due is None or due > target:
                break
            await move(self.clock, self.store, due)
            await settle(self.store, spec, SETTLE_TIMEOUT)
        await move(self.clock, self.store, target)
        await settle(self.store, spec, SETTLE_TIMEOUT)

    async def settle(self) -> None:
        """Wait until nothing runs and nothing claimable waits (time does not move)."""
        await settle(self.store, self.worker.spec, SETTLE_TIMEOUT)

    # -- running -------------------------------------------------------------------------------

    async def run(
        self,
        orchestrator: Callable[..., Any] | str,
        *args: Any,
        instance_id: str | None = None,
        timeout: float | None = 60.0,
    ) -> Any:
        """Start ``orchestrator`` with ``args`` and return its result (or raise its failure).

        ``timeout``: real seconds to wait (``TaskTimeout`` after them).
        """
        handle = await self.client.start(orchestrator, *args, instance_id=instance_id)
        return await self.result(handle, timeout=timeout)

    async def result(self, handle: InstanceHandle, *, timeout: float | None = 60.0) -> Any:
        """``handle.result(timeout)``, except that an instance the worker holds (a
        ``NonDeterminismError``, a commit that failed: it would never go on) fails the wait at
        once with ``DurableError`` naming it and the error."""
        waiting = asyncio.ensure_future(handle.result(timeout=timeout))
        watching = asyncio.ensure_future(self._held())
        try:
            await asyncio.wait({waiting, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiting, watching):
                task.cancel()
            await asyncio.gather(waiting, watching, return_exceptions=True)
        if waiting.done() and not waiting.cancelled():
            return waiting.result()
        return watching.result()

    async def _held(self) -> Any:
        """Raise when any instance is held (a child held blocks its parent too)."""
        while True:
            seen = _hub.generation(self.store.change_key)
            for record in self.store.held():
                assert record.error is not None
                raise DurableError(
                    f"instance {record.instance_id!r} ({record.name}) is held by the worker and "
                    f"cannot go on: {record.error.error_type}: {record.error.message}"
                )
            await _hub.wait(self.store.change_key, 1.0, seen=seen)

    # -- mocks ---------------------------------------------------------------------------------

    def mock_activity(
        self,
        activity: Callable[..., Any] | str,
        *,
        returns: Any = _UNSET,
        raises: BaseException | type[BaseException] | None = None,
        side_effect: Callable[..., Any] | None = None,
    ) -> None:
        """Run a fake in place of the activity registered under ``activity``'s name: it returns
        ``returns``, raises ``raises`` (each attempt: the retry policy still applies), or calls
        ``side_effect`` with the activity's arguments (a sync or async function)."""
        self.app.mock_activity(activity, returns, raises, side_effect)

    def mock_sub_orchestrator(
        self,
        orchestrator: Callable[..., Any] | str,
        *,
        returns: Any = _UNSET,
        raises: BaseException | type[BaseException] | None = None,
        side_effect: Callable[..., Any] | None = None,
    ) -> None:
        """Run a fake in place of the orchestrator registered under ``orchestrator``'s name when
        it is started (as a sub-orchestration or by a client): it finishes in its first episode
        with ``returns``, fails with ``raises``, or with what ``side_effect(*args)`` gives."""
        self.app.mock_sub_orchestrator(orchestrator, returns, raises, side_effect)

    def calls(self, fn_or_name: Callable[..., Any] | str) -> list[Call]:
        """The arguments of each call, oldest first: every attempt of an activity (mocked or
        not), every start of a mocked orchestrator."""
        try:
            name = self.app.name_of(fn_or_name, "activity")
        except ConfigurationError:
            if fn_or_name not in self.app.orchestrators and not isinstance(
                fn_or_name, Orchestrator
            ):
                raise
            name = self.app.name_of(fn_or_name, "orchestrator")
            if name not in self.app.calls:
                raise ConfigurationError(
                    f"calls({name!r}): only mocked orchestrators are recorded; mock it with "
                    "env.mock_sub_orchestrator, or read env.client.list(name=...)"
                ) from None
        return list(self.app.calls_of(name))

    @property
    def replays(self) -> int:
        """Episodes the worker decided by replaying a history (see ``Worker.replays``)."""
        return self.worker.replays
