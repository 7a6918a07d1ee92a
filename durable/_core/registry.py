"""App: the registry of orchestrators and activities, and the checks made at registration."""

from __future__ import annotations

import collections.abc
import functools
import inspect
import typing
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Generic, Literal, ParamSpec, Protocol, TypeVar, overload

from .._actions import ActivityOptions
from .._durations import to_seconds
from .._errors import ConfigurationError
from .._flow import QueueLimits, check_label, check_priority
from .._retry import RetryPolicy
from .._schedule import ScheduleDefinition
from .._serde import DEFAULT_SERIALIZER, Serializer, return_hint
from .._text import check_text
from .determinism import warn_if_nondeterministic
from .entities import Entity
from .flow_registry import FlowRegistry

P = ParamSpec("P")
R = TypeVar("R")

_UNSET: Any = object()
#: where a sync activity runs (``@app.activity(executor=...)``)
Executor = Literal["thread", "process"]


class Activity(Generic[P, R]):
    """A registered activity. Still a plain callable: call it directly in unit tests.

    Pass it to ``ctx.call_activity``; ``with_options`` gives a reference with per-call options.
    """

    def __init__(
        self,
        fn: Callable[P, Any],
        name: str,
        options: ActivityOptions,
        executor: Executor = "thread",
    ) -> None:
        self.fn = fn
        self.name = name
        self.options = options
        #: where a sync activity runs: a worker thread, or a process of the worker's pool
        self.executor: Executor = executor
        functools.update_wrapper(self, fn)
        #: runs on the event loop (else in a thread, or a process): asked once, not per attempt
        self.is_async = inspect.iscoroutinefunction(fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        return self.fn(*args, **kwargs)

    def with_options(
        self,
        *,
        retry: RetryPolicy | None = _UNSET,
        timeout: timedelta | float | None = _UNSET,
        queue: str = _UNSET,
        schedule_to_start_timeout: timedelta | float | None = _UNSET,
        heartbeat_timeout: timedelta | float | None = _UNSET,
        priority: int | None = _UNSET,
        fairness_key: str | None = _UNSET,
    ) -> ActivityRef[P, R]:
        """A reference to this activity with some options replaced for the calls that use it.

        ``priority`` (lower runs first) and ``fairness_key`` (round-robin between keys) order
        the attempts of a queue declared with ``app.queue``; unset, the instance's apply (as
        ``client.start`` gave them).
        """
        given = {
            "retry": retry,
            "timeout": timeout,
            "queue": queue,
            "schedule_to_start_timeout": schedule_to_start_timeout,
            "heartbeat_timeout": heartbeat_timeout,
            "priority": priority,
            "fairness_key": fairness_key,
        }
        changes = {key: value for key, value in given.items() if value is not _UNSET}
        return ActivityRef(self, _make_options(self.name, self.options, **changes))

    def __repr__(self) -> str:
        return f"<activity {self.name!r}>"


@dataclass(frozen=True, slots=True)
class ActivityRef(Generic[P, R]):
    """An activity with per-call options (from ``Activity.with_options``)."""

    activity: Activity[P, R]
    options: ActivityOptions

    @property
    def name(self) -> str:
        """The activity's registered name."""
        return self.activity.name


class Orchestrator(Generic[P, R]):
    """A registered orchestrator: a generator function ``(ctx, *args)`` that yields effects."""

    def __init__(self, fn: Callable[P, Any], name: str) -> None:
        self.fn = fn
        self.name = name
        self.return_hint = orchestrator_return_hint(fn)
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<orchestrator {self.name!r}>"


class _OrchestratorDecorator(Protocol):
    def __call__(self, fn: Callable[P, Any], /) -> Orchestrator[P, Any]: ...


class _ActivityDecorator(Protocol):
    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> Activity[P, R]: ...

    @overload
    def __call__(self, fn: Callable[P, R], /) -> Activity[P, R]: ...


class App(FlowRegistry):
    """The registry of a program's orchestrators and activities.

    Register with the decorators ``@app.orchestrator`` and ``@app.activity``; the name is the
    function's ``__name__`` unless ``name=`` is given, and must be unique within the app.
    ``serializer=durable.Serializer(max_payload_bytes=..., codec=...)`` sets the payload size
    limit and codec for everything the app records; clients given this app use it too.
    """

    def __init__(self, *, serializer: Serializer | None = None) -> None:
        self.serializer = serializer or DEFAULT_SERIALIZER
        self.orchestrators: dict[str, Orchestrator[Any, Any]] = {}
        self.activities: dict[str, Activity[Any, Any]] = {}
        self.entities: dict[str, Entity] = {}
        self.queues: dict[str, QueueLimits] = {}
        self.schedules: dict[str, ScheduleDefinition] = {}

    # -- decorators ----------------------------------------------------------------------------

    @overload
    def orchestrator(self, fn: Callable[P, Any], /) -> Orchestrator[P, Any]: ...

    @overload
    def orchestrator(
        self, fn: None = None, /, *, name: str | None = None
    ) -> _OrchestratorDecorator: ...

    def orchestrator(self, fn: Any = None, /, *, name: str | None = None) -> Any:
        """Register a generator function ``(ctx, *args)`` as an orchestrator."""
        if fn is None:
            return lambda f: self._register_orchestrator(f, name)
        return self._register_orchestrator(fn, name)

    def _register_orchestrator(self, fn: Any, name: str | None) -> Orchestrator[Any, Any]:
        if not inspect.isgeneratorfunction(fn):
            kind = "an async function" if inspect.iscoroutinefunction(fn) else "not a generator"
            raise ConfigurationError(
                f"orchestrator {_describe(fn)} is {kind}: an orchestrator is a plain generator "
                "function (def ... with yield ctx.call_activity(...)), never async def"
            )
        registered = Orchestrator[Any, Any](fn, self._claim_name(_name_of(fn, name), fn))
        warn_if_nondeterministic(fn, registered.name)
        self.orchestrators[registered.name] = registered
        return registered

    @overload
    def activity(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> Activity[P, R]: ...

    @overload
    def activity(self, fn: Callable[P, R], /) -> Activity[P, R]: ...

    @overload
    def activity(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: timedelta | float | None = None,
        queue: str = "default",
        schedule_to_start_timeout: timedelta | float | None = None,
        heartbeat_timeout: timedelta | float | None = None,
        executor: Executor = "thread",
    ) -> _ActivityDecorator: ...

    def activity(
        self,
        fn: Any = None,
        /,
        *,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: timedelta | float | None = None,
        queue: str = "default",
        schedule_to_start_timeout: timedelta | float | None = None,
        heartbeat_timeout: timedelta | float | None = None,
        executor: Executor = "thread",
    ) -> Any:
        """Register a function (async or sync) as an activity, with its default options.

        ``executor="process"``: a sync function that runs in a process of the worker's pool
        (``Worker(max_processes=N)``), for CPU-bound work; it must be importable by its module
        and name, and its arguments and result cross as JSON.
        """
        if executor not in ("thread", "process"):
            raise ConfigurationError(f"executor={executor!r}: use 'thread' or 'process'")
        options = {
            "retry": retry,
            "timeout": timeout,
            "queue": queue,
            "schedule_to_start_timeout": schedule_to_start_timeout,
            "heartbeat_timeout": heartbeat_timeout,
        }
        if fn is None:
            return lambda f: self._register_activity(f, name, options, executor)
        return self._register_activity(fn, name, options, executor)

    def entity(self, target: Any = None, /, *, name: str | None = None) -> Any:
        """Register a durable entity (DESIGN 2a): a class whose public methods are operations
        on ``self.state``, or a function ``(state, op, arg) -> (new_state, result)``."""
        if target is None:
            return lambda t: self._register_entity(t, name)
        return self._register_entity(target, name)

    def _register_entity(self, target: Any, name: str | None) -> Entity:
        target = target.target if isinstance(target, Entity) else target
        registered = Entity(target, _name_of(target, name))
        if registered.name in self.entities:
            raise ConfigurationError(
                f"entity {registered.name!r} is already registered; pass name=... to register "
                "it under another name"
            )
        self.entities[registered.name] = registered
        return registered

    # -- lookups used by the context, the worker and the client --------------------------------

    def resolve_entity(self, name: str) -> Entity:
        """The registered entity ``name``."""
        found: Entity = self._lookup(self.entities, name, "entity")
        return found

    def resolve_activity(self, ref: Any) -> tuple[str, Callable[..., Any], ActivityOptions]:
        """(name, function, options) of an activity given as object, reference or name."""
        if isinstance(ref, ActivityRef):
            activity, options = ref.activity, ref.options
        else:
            activity = self._lookup(self.activities, ref, "activity")
            options = activity.options
        if self.activities.get(activity.name) is not activity:
            raise ConfigurationError(f"activity {activity.name!r} is registered with another App")
        return activity.name, activity.fn, options

    def resolve_orchestrator(self, ref: Any) -> Orchestrator[Any, Any]:
        """The registered orchestrator given as object or name."""
        found: Orchestrator[Any, Any] = self._lookup(self.orchestrators, ref, "orchestrator")
        return found

    def activity_return_hint(self, name: str) -> Any:
        """The return annotation results of activity ``name`` are decoded by."""
        return return_hint(self.activities[name].fn)

    # -- internals -----------------------------------------------------------------------------

    def _register_activity(
        self, fn: Any, name: str | None, options: dict[str, Any], executor: Executor = "thread"
    ) -> Activity[Any, Any]:
        if not callable(fn):
            raise ConfigurationError(f"@app.activity needs a function, got {fn!r}")
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            raise ConfigurationError(
                f"activity {_describe(fn)} is a generator: an activity returns a value "
                "(did you mean @app.orchestrator?)"
            )
        if executor == "process":
            _check_importable(fn)
        claimed = self._claim_name(_name_of(fn, name), fn)
        registered = Activity[Any, Any](
            fn, claimed, _make_options(claimed, ActivityOptions(), **options), executor
        )
        self.activities[claimed] = registered
        return registered

    def _claim_name(self, name: str, fn: Any) -> str:
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(f"{_describe(fn)}: name must be a non-empty str, got {name!r}")
        check_text(name, f"{_describe(fn)}: name")
        for kind, table in (("orchestrator", self.orchestrators), ("activity", self.activities)):
            if name in table:
                raise ConfigurationError(
                    f"{_describe(fn)}: the name {name!r} is already registered as {kind} "
                    f"{_describe(table[name].fn)}; pass name=... to register it under another name"
                )
        return name

    def _lookup(self, table: dict[str, Any], ref: Any, kind: str) -> Any:
        if isinstance(ref, str):
            found = table.get(ref)
        elif isinstance(ref, Orchestrator | Activity):
            found = table.get(ref.name)
            if found is not None and found is not ref:
                found = None
        else:
            found = next((entry for entry in table.values() if entry.fn is ref), None)
        if found is None:
            names = ", ".join(sorted(table)) or "none"
            what = ref if isinstance(ref, str) else _describe(ref)
            plural = {"activity": "activities", "entity": "entities"}.get(kind, f"{kind}s")
            raise ConfigurationError(
                f"unknown {kind} {what!r}: not registered with this App "
                f"(decorate it with @app.{kind}); registered {plural}: {names}"
            )
        return found


def _make_options(name: str, base: ActivityOptions, **changes: Any) -> ActivityOptions:
    """Validated options; durations become seconds."""
    for key in ("timeout", "schedule_to_start_timeout", "heartbeat_timeout"):
        if key in changes and changes[key] is not None:
            changes[key] = to_seconds(
                changes[key], f"activity {name!r}: {key}={changes[key]!r}", allow_zero=False
            )
    if "queue" in changes and (not isinstance(changes["queue"], str) or not changes["queue"]):
        raise ConfigurationError(f"activity {name!r}: queue must be a non-empty str")
    if "queue" in changes:
        check_text(changes["queue"], f"activity {name!r}: queue")
    if "priority" in changes:
        check_priority(changes["priority"], f"activity {name!r}")
    if "fairness_key" in changes:
        check_label(changes["fairness_key"], f"activity {name!r}: fairness_key", optional=True)
    retry = changes.get("retry")
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise ConfigurationError(f"activity {name!r}: retry must be a RetryPolicy, got {retry!r}")
    return replace(base, **changes)


def orchestrator_return_hint(fn: Callable[..., Any] | None) -> Any:
    """``R`` of ``-> Generator[Y, S, R]`` (or a plain ``-> R``): how child results decode."""
    hint = return_hint(fn)
    origin = typing.get_origin(hint)
    if origin in (collections.abc.Generator, typing.Generator):
        args = typing.get_args(hint)
        return args[2] if len(args) == 3 else Any
    if origin in (collections.abc.Iterator, collections.abc.Iterable):
        return Any
    return hint


def _check_importable(fn: Any) -> None:
    """A process activity is found again in the pool's processes by module and name."""
    if inspect.iscoroutinefunction(fn) or not inspect.isfunction(fn):
        raise ConfigurationError(
            f"activity {_describe(fn)}: executor='process' needs a plain (sync) function"
        )
    if "<" in fn.__qualname__:
        raise ConfigurationError(
            f"activity {_describe(fn)}: executor='process' needs a function defined at the top "
            "level of a module (the pool's processes import it by name)"
        )


def _name_of(fn: Any, name: str | None) -> Any:
    # Fix: name="" fell back to __name__ silently, and an object without __name__ raised
    # AttributeError; both now reach _claim_name's ConfigurationError.
    return getattr(fn, "__name__", None) if name is None else name


def _describe(fn: Any) -> str:
    code = getattr(fn, "__code__", None)
    name = getattr(fn, "__qualname__", None) or repr(fn)
    if code is None:
        return name
    return f"{name} ({code.co_filename}:{code.co_firstlineno})"
