"""What ``durable worker`` runs: one ``Worker`` until a signal, or a supervisor of N of them.

One process runs a ``Worker`` until SIGTERM or SIGINT, then stops claiming, lets in-flight work
finish within ``--shutdown-grace`` and releases the rest (a second signal releases it at once).
With ``--processes N`` this process becomes a supervisor: it runs N such worker processes,
starts a new one when one dies, and passes a stop signal on to all of them.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio
from anyio.abc import Process, TaskGroup

from .._core.registry import App
from .._worker.worker import Worker
from ..stores import open_store, redact
from .common import STORE_ENV, CliError, fail, plural
from .log_setup import configure_logging

if TYPE_CHECKING:
    from .worker import WorkerSettings

logger = logging.getLogger("durable.cli")

#: the first restart delay of a worker process that died, doubled while it keeps dying young
_BACKOFF_FIRST, _BACKOFF_MAX = 0.5, 10.0
#: a worker process that lived this long is healthy again: its next restart is quick
_STABLE_SECONDS = 30.0
#: how long past the grace period the supervisor waits before it SIGKILLs a worker process
_KILL_MARGIN = 5.0
#: how often a supervised worker checks that its supervisor is alive
_PARENT_CHECK = 1.0


def run(options: WorkerSettings, processes: int, supervised_by: int | None) -> int:
    """Load the app, check the store URL, set up logging, then serve (or supervise ``processes``
    worker processes); the exit status."""
    app = load_app(options.app_spec)
    open_store(options.store)  # a malformed URL fails here, before any process starts
    configure_logging(options.log_level, options.log_format)
    if processes > 1:
        return anyio.run(_Supervisor(options, processes).run)
    return anyio.run(_serve, app, options, supervised_by)


def load_app(spec: str) -> App:
    """Import ``MODULE:ATTR`` (as uvicorn does, the current directory first on ``sys.path``)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        fail(f"app {spec!r}: expected MODULE:APP, e.g. shop:app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name + ".").startswith(exc.name + "."):
            fail(f"app {spec!r}: no module named {exc.name!r} (searched from {os.getcwd()})")
        raise CliError(f"app {spec!r}: importing {module_name!r} failed: {exc}") from exc
    except Exception as exc:  # the module's own code failed: name the error (--debug: where)
        raise CliError(
            f"app {spec!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    found: object = module
    for part in attr.split("."):
        if not hasattr(found, part):
            fail(f"app {spec!r}: module {module_name!r} has no attribute {attr!r}")
        found = getattr(found, part)
    if not isinstance(found, App):
        fail(f"app {spec!r} is not a durable.App (its type is {type(found).__name__})")
    return found


# -- one worker process ------------------------------------------------------------------------


async def _serve(app: App, options: WorkerSettings, supervisor: int | None) -> int:
    """Run a Worker until a signal stops it; 0 after a graceful stop, 1 after a forced one."""
    worker = Worker(
        app,
        options.store,
        queues=options.queues or None,
        max_concurrent_activities=options.concurrency,
        max_concurrent_orchestrations=options.concurrency,
        lease_seconds=options.lease,
        poll_interval=options.poll_interval,
        shutdown_grace=options.shutdown_grace,
        max_episode_attempts=options.max_episode_attempts,
        episode_timeout=options.episode_timeout,
        max_processes=options.max_processes,
    )
    logger.info(
        "starting %s (%s, %s) on %s %s of %s",
        options.app_spec,
        plural(len(app.orchestrators), "orchestrator"),
        plural(len(app.activities), "activity", "activities"),
        "queue" if len(worker.spec.queues) == 1 else "queues",
        ", ".join(sorted(worker.spec.queues)),
        redact(options.store),
    )
    forced = False

    async def on_signals(signals: AsyncIterator[signal.Signals], group: TaskGroup) -> None:
        nonlocal forced
        async for signum in signals:
            if not forced and not stopping.is_set():
                stopping.set()
                logger.info(
                    "%s: stopping; in-flight work has %g s to finish (signal again to release "
                    "it now)",
                    signum.name,
                    options.shutdown_grace,
                )
                await worker.stop()
            else:
                logger.warning("%s again: releasing in-flight work now", signum.name)
                forced = True
                group.cancel_scope.cancel()

    stopping = anyio.Event()
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with anyio.create_task_group() as group:
            group.start_soon(on_signals, signals, group)
            if supervisor is not None:
                group.start_soon(_watch_supervisor, supervisor, worker)
            await worker.run()
            group.cancel_scope.cancel()
    return 1 if forced else 0


async def _watch_supervisor(supervisor: int, worker: Worker) -> None:
    """Stop gracefully when the supervisor is gone (its children live in their own sessions,
    so nothing else would tell them)."""
    while os.getppid() == supervisor:
        await anyio.sleep(_PARENT_CHECK)
    logger.warning("supervisor (pid %d) is gone: stopping", supervisor)
    await worker.stop()


# -- several: the supervisor -------------------------------------------------------------------


def _exit_text(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


class _Supervisor:
    """Keeps ``count`` worker processes running until a signal stops them all."""

    def __init__(self, options: WorkerSettings, count: int) -> None:
        self.options = options
        self.count = count
        self.argv = options.child_argv(os.getpid())
        self.env = {**os.environ, STORE_ENV: options.store}
        self.children: dict[int, Process] = {}
        self.stopping = anyio.Event()
        self.killed = False

    async def run(self) -> int:
        """Run until a stop signal and until every worker process has exited; 0 unless one of
        them had to be killed."""
        logger.info("supervising %d worker processes of %s", self.count, self.options.app_spec)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with anyio.create_task_group() as group:
                group.start_soon(self._on_signals, signals, group)
                async with anyio.create_task_group() as slots:
                    for slot in range(self.count):
                        slots.start_soon(self._keep_alive, slot)
                group.cancel_scope.cancel()
        logger.info("all worker processes stopped")
        return 1 if self.killed else 0

    async def _keep_alive(self, slot: int) -> None:
        delay = _BACKOFF_FIRST
        while not self.stopping.is_set():
            started = anyio.current_time()
            process = await anyio.open_process(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=None,
                stderr=None,
                env=self.env,
                start_new_session=True,  # signals reach workers only through the supervisor
            )
            async with process:
                self.children[slot] = process
                if self.stopping.is_set():  # the stop signal came while it was starting
                    process.terminate()
                logger.info("worker process %d started (slot %d)", process.pid, slot)
                code = await process.wait()
                del self.children[slot]
            if self.stopping.is_set():
                logger.info("worker process %d stopped (%s)", process.pid, _exit_text(code))
                return
            if anyio.current_time() - started >= _STABLE_SECONDS:
                delay = _BACKOFF_FIRST
            logger.warning(
                "worker process %d ended unexpectedly (%s); starting another in %.1f s",
                process.pid,
                _exit_text(code),
                delay,
            )
            with anyio.move_on_after(delay):
                await self.stopping.wait()
            delay = min(delay * 2, _BACKOFF_MAX)

    async def _on_signals(self, signals: AsyncIterator[signal.Signals], group: TaskGroup) -> None:
        async for signum in signals:
            if not self.stopping.is_set():
                self.stopping.set()
                group.start_soon(self._kill_after_grace)
            logger.info(
                "%s: stopping %s",
                signum.name,
                plural(len(self.children), "worker process", "worker processes"),
            )
            self._signal_all(signal.SIGTERM)

    async def _kill_after_grace(self) -> None:
        await anyio.sleep(self.options.shutdown_grace + _KILL_MARGIN)
        if self.children:
            logger.error("worker processes still running after the grace period: killing them")
            self.killed = True
            self._signal_all(signal.SIGKILL)

    def _signal_all(self, signum: signal.Signals) -> None:
        for process in list(self.children.values()):
            with contextlib.suppress(ProcessLookupError):  # it exited and is being reaped
                process.send_signal(signum)
