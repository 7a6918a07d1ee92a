"""The app an ``Environment`` runs: the user's registry, resolved by name, with mocks in it.

``TestApp`` copies the registry of the app under test. References resolve by registered name
(as Temporal's do): ``ctx.call_activity(charge, ...)`` runs whatever this app registers under
``"charge"``, even when ``charge`` is the production function of another ``App``, so a test
app that registers a fake with ``@app.activity(name="charge")`` runs the fake. A mock replaces
the entry under a name; every activity attempt and every mocked sub-orchestration's start is
recorded as a ``Call``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Generator
from typing import Any, NamedTuple

from .._actions import ActivityOptions
from .._core.registry import Activity, ActivityRef, App, Orchestrator
from .._errors import ConfigurationError

_UNSET: Any = object()


class Call(NamedTuple):
    """The arguments of one call (an activity attempt, a sub-orchestration's start)."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def _outcome(
    what: str, returns: Any, raises: BaseException | type[BaseException] | None, side_effect: Any
) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
    """What a mock does when called: return, raise, or call ``side_effect``."""
    given = [returns is not _UNSET, raises is not None, side_effect is not None]
    if sum(given) > 1:
        raise ConfigurationError(f"{what}: give one of returns=, raises= or side_effect=")
    if raises is not None:

        def fail(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            raise raises if isinstance(raises, BaseException) else raises()

        return fail
    if side_effect is not None:
        if not callable(side_effect):
            raise ConfigurationError(f"{what}: side_effect= must be callable")
        return lambda args, kwargs: side_effect(*args, **kwargs)
    value = None if returns is _UNSET else returns
    return lambda args, kwargs: value


class TestApp(App):
    """A copy of an app's registry whose references resolve by name, and that takes mocks."""

    __test__ = False  # not a pytest test class

    def __init__(self, base: App) -> None:
        super().__init__(serializer=base.serializer)
        #: the calls recorded, by registered name
        self.calls: dict[str, list[Call]] = {}
        self.orchestrators = dict(base.orchestrators)
        self.entities = dict(base.entities)
        self.activities = {
            name: self._recorded(activity) for name, activity in base.activities.items()
        }
        self.queues = dict(base.queues)
        self.schedules = dict(base.schedules)

    # -- resolution by name --------------------------------------------------------------------

    def resolve_activity(self, ref: Any) -> tuple[str, Callable[..., Any], ActivityOptions]:
        """(name, function, options) of the activity registered under ``ref``'s name."""
        options = ref.options if isinstance(ref, ActivityRef) else None
        name = self.name_of(ref, "activity")
        registered = self.activities[name]
        return name, registered.fn, options or registered.options

    def resolve_orchestrator(self, ref: Any) -> Orchestrator[Any, Any]:
        """The orchestrator registered under ``ref``'s name."""
        return self.orchestrators[self.name_of(ref, "orchestrator")]

    def name_of(self, ref: Any, kind: str) -> str:
        """The registered name ``ref`` (an object, a reference, a function or a name) stands for."""
        table: dict[str, Any] = self.activities if kind == "activity" else self.orchestrators
        if isinstance(ref, ActivityRef | Activity | Orchestrator):
            name = ref.name
        elif isinstance(ref, str):
            name = ref
        else:
            name = getattr(ref, "__name__", "")
            found = [n for n, entry in table.items() if _original(entry.fn) is ref]
            name = found[0] if found else name
        if name not in table:
            return str(self._lookup(table, ref, kind).name)  # raises, naming what is registered
        return name

    # -- mocks ---------------------------------------------------------------------------------

    def mock_activity(
        self,
        ref: Any,
        returns: Any = _UNSET,
        raises: BaseException | type[BaseException] | None = None,
        side_effect: Callable[..., Any] | None = None,
    ) -> str:
        name = self.name_of(ref, "activity")
        original = self.activities[name]
        act = _outcome(f"mock_activity({name!r})", returns, raises, side_effect)
        calls = self.calls_of(name)

        @functools.wraps(_original(original.fn))
        async def fake(*args: Any, **kwargs: Any) -> Any:
            calls.append(Call(args, kwargs))
            value = act(args, kwargs)
            return await value if inspect.isawaitable(value) else value

        self.activities[name] = Activity(fake, name, original.options)
        return name

    def mock_sub_orchestrator(
        self,
        ref: Any,
        returns: Any = _UNSET,
        raises: BaseException | type[BaseException] | None = None,
        side_effect: Callable[..., Any] | None = None,
    ) -> str:
        name = self.name_of(ref, "orchestrator")
        original = self.orchestrators[name]
        act = _outcome(f"mock_sub_orchestrator({name!r})", returns, raises, side_effect)
        calls = self.calls_of(name)

        @functools.wraps(original.fn)
        def fake(ctx: Any, *args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            if not ctx.is_replaying:
                calls.append(Call(args, kwargs))
            return act(args, kwargs)
            yield  # a generator: an orchestrator that finishes in its first episode

        self.orchestrators[name] = Orchestrator(fake, name)
        return name

    def _recorded(self, activity: Activity[Any, Any]) -> Activity[Any, Any]:
        """The activity, with each attempt's arguments recorded (sync stays sync)."""
        fn, calls = activity.fn, self.calls_of(activity.name)
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def recorded_async(*args: Any, **kwargs: Any) -> Any:
                calls.append(Call(args, kwargs))
                return await fn(*args, **kwargs)

            return Activity(recorded_async, activity.name, activity.options)

        @functools.wraps(fn)
        def recorded(*args: Any, **kwargs: Any) -> Any:
            calls.append(Call(args, kwargs))
            return fn(*args, **kwargs)

        return Activity(recorded, activity.name, activity.options)

    def calls_of(self, name: str) -> list[Call]:
        """The list the calls under ``name`` are recorded in."""
        return self.calls.setdefault(name, [])


def _original(fn: Any) -> Any:
    """The user's function under the kit's wrappers."""
    return inspect.unwrap(fn)
