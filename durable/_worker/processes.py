"""The worker's process pool: ``@app.activity(executor="process")`` attempts, past the GIL.

Each process of the pool (``Worker(max_processes=N)``, started on first use with the ``spawn``
method, so no lock or thread of the worker is forked) serves one attempt at a time. What crosses
the pipe is JSON text only, sent as bytes (``send_bytes``/``recv_bytes``: nothing is pickled):
the activity's name and its encoded arguments one way; the encoded result, or the error's type,
message and traceback, the other way. Each process gets the worker's registry of process
activities (name -> module and qualified name) when it starts, imports a function by that name,
and finds the ``App`` that registered it in its module, to decode the arguments and encode the
result with that app's serializer (its codec and size limit). ``multiprocessing`` itself pickles
only what starting a process needs: the reference to this module's ``serve``, the pipe's end and
that registry (strings).

An attempt past its ``timeout`` (or cancelled: the worker stops) kills its process (SIGKILL: a
CPU-bound loop never looks at a flag); the pool starts another when next needed, so the worker
keeps serving. ``durable.heartbeat()`` and ``activity_info()`` are not available in a process.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import signal
import sys
import traceback
from functools import cache
from typing import Any

import anyio
import anyio.to_thread

from .._core.registry import Activity, App
from .._errors import ConfigurationError, qualified_name
from .._events import ErrorInfo
from .._serde import DEFAULT_SERIALIZER, Serializer
from ..stores.base import ActivityWorkItem

logger = logging.getLogger("durable.activity")


def processes_for(app: App, size: int | None) -> ProcessPool | None:
    """The pool of a worker of ``app`` (None when it has no process activity)."""
    if size is not None and (not isinstance(size, int) or size < 1):
        raise ConfigurationError(f"max_processes={size!r}: give a whole number of 1 or more")
    targets = {
        activity.name: (activity.fn.__module__, activity.fn.__qualname__)
        for activity in app.activities.values()
        if activity.executor == "process"
    }
    if not targets:
        return None
    return ProcessPool(size or os.cpu_count() or 1, targets)


class ProcessPool:
    """Up to ``size`` processes, each running one attempt at a time."""

    def __init__(self, size: int, targets: dict[str, tuple[str, str]]) -> None:
        self.size = size
        #: activity name -> (module, qualified name): what the processes may import, from the
        #: worker's registry, fixed when each process starts (a request only names an activity)
        self._targets = json.dumps(targets)
        self._slots = anyio.CapacityLimiter(size)
        #: threads that wait on a process's pipe (one per attempt running)
        self._readers = anyio.CapacityLimiter(size)
        self._idle: list[_Process] = []
        #: processes killed because their attempt ran out of time (for tests and logs)
        self.killed = 0

    async def run(
        self, activity: Activity[Any, Any], item: ActivityWorkItem, timeout: float | None
    ) -> tuple[str | None, ErrorInfo | None]:
        """Run one attempt: (encoded result, None) or (None, error)."""
        request = json.dumps([item.name, item.input]).encode()
        async with self._slots:
            try:
                process = self._idle.pop() if self._idle else _Process(self._targets)
            except Exception as exc:  # a process that cannot start fails the attempt only
                return None, _error(exc, f"activity {item.name!r}: no pool process started")
            try:
                with anyio.fail_after(timeout if timeout else math.inf):
                    reply = await process.call(request, self._readers)
            except TimeoutError:
                self._kill(process, item)
                message = (
                    f"activity {item.name!r} attempt {item.attempt} ran longer than {timeout} s"
                )
                return None, ErrorInfo("TimeoutError", message + " (its process was killed)")
            except (EOFError, OSError):
                # the process died (a crash, an OOM kill, os._exit, a failed start): the
                # attempt fails, and the retry policy decides; the worker serves on
                process.kill()
                message = (
                    f"activity {item.name!r} attempt {item.attempt}: its process exited "
                    f"(exit code {process.exitcode}) before it answered"
                )
                logger.warning("%s", message, extra=_log(item))
                return None, ErrorInfo("ChildProcessError", message)
            except BaseException:
                self._kill(process, item)
                raise
            self._idle.append(process)
        result, error = json.loads(reply)
        return result, None if error is None else ErrorInfo(*error)

    def _kill(self, process: _Process, item: ActivityWorkItem) -> None:
        self.killed += 1
        logger.warning(
            "activity %s attempt %d: its process (pid %s) was killed",
            item.name,
            item.attempt,
            process.pid,
            extra=_log(item),
        )
        process.kill()

    def close(self) -> None:
        """Stop the idle processes (the worker stops)."""
        while self._idle:
            self._idle.pop().kill()


class _Process:
    """One process of the pool and the parent's end of its pipe."""

    def __init__(self, targets: str) -> None:
        # imported here: multiprocessing costs every worker's start-up (~20 ms of CPU, far
        # more on a loaded machine) and only apps with process activities need it
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._conn, theirs = context.Pipe()
        self._proc = context.Process(target=serve, args=(theirs, targets), daemon=True)
        self._proc.start()
        theirs.close()
        self.pid = self._proc.pid

    async def call(self, request: bytes, readers: anyio.CapacityLimiter) -> bytes:
        self._conn.send_bytes(request)
        # a killed process closes its end: the waiting thread then ends with EOFError
        reply: bytes = await anyio.to_thread.run_sync(
            self._conn.recv_bytes, abandon_on_cancel=True, limiter=readers
        )
        return reply

    @property
    def exitcode(self) -> int | None:
        return self._proc.exitcode

    def kill(self) -> None:
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join(5)


def _log(item: ActivityWorkItem) -> dict[str, str]:
    return {"instance_id": item.instance_id, "activity": item.name}


def _error(exc: BaseException, context: str) -> ErrorInfo:
    text = "".join(traceback.format_exception(exc))
    return ErrorInfo(qualified_name(type(exc)), f"{context}: {exc}", text)


def error_of(error: ErrorInfo) -> Exception:
    """An exception for the retry policy, whose type has the qualified name of the one raised
    in the process (so ``non_retryable`` names match it)."""
    return _remote_type(error.error_type)(error.message)


@cache
def _remote_type(error_type: str) -> type[Exception]:
    module, _, name = error_type.rpartition(".")
    kind = type(name or "Error", (Exception,), {"__module__": module or "builtins"})
    kind.__qualname__ = name or "Error"
    return kind


# -- in the pool's processes ---------------------------------------------------------------------


def serve(conn: Any, targets: str) -> None:
    """A pool process: run the attempts that come through ``conn`` until it closes.

    ``targets`` (JSON: activity name -> module and qualified name) is the worker's registry of
    process activities, given at the start: a request names an activity of it, never a module.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker stops us; its Ctrl-C is its own
    known: dict[str, list[str]] = json.loads(targets)
    while True:
        try:
            request = conn.recv_bytes()
        except EOFError:
            return
        name, payload = json.loads(request)
        conn.send_bytes(json.dumps(_attempt(known, name, payload)).encode())


def _attempt(known: dict[str, list[str]], name: str, payload: str) -> list[Any]:
    try:
        if name not in known:
            raise LookupError(f"activity {name!r} is not a process activity of this worker")
        module, qualname = known[name]
        fn, serializer = _resolve(module, qualname, name)
        args, kwargs = serializer.decode_call(payload, fn)
        return [serializer.encode(fn(*args, **kwargs), path=f"{name}() result"), None]
    except BaseException as exc:
        text = "".join(traceback.format_exception(exc))
        return [None, [qualified_name(type(exc)), str(exc), text]]


def _resolve(module: str, qualname: str, name: str) -> tuple[Any, Serializer]:
    # the module of a registered activity, from the worker's registry (see ``serve``)
    found: Any = sys.modules.get(module) or importlib.import_module(module)
    namespace = vars(found)
    for part in qualname.split("."):
        found = getattr(found, part)
    fn = found.fn if isinstance(found, Activity) else found
    for value in list(namespace.values()):
        if isinstance(value, App) and name in value.activities:
            return fn, value.serializer
    return fn, DEFAULT_SERIALIZER
