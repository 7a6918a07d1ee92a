"""Registered entities and how one operation runs (pure: no I/O, no clock).

A class entity (``@app.entity class Counter``) has its public methods as operations and its
state in ``self.state``; a function entity is ``(state, op, arg) -> (new_state, result)``. One
operation is a transaction: it gets the decoded state, and either returns the new state
(encoded) and its result, or raises, and then nothing it did counts (neither its state nor the
signals it sent).
"""

from __future__ import annotations

import functools
import inspect
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._entities import DELETE, ENTITY_PREFIX, EntityId, as_entity_id
from .._errors import ConfigurationError, qualified_name
from .._events import ErrorInfo
from .._serde import Serializer
from .._text import check_text

#: attributes durable sets on a class entity's object for each operation: not operations
_RESERVED = frozenset({"state", "entity_id", "signal_entity", "delete", "initial_state"})


@dataclass(slots=True)
class OperationResult:
    """What one operation did: the new state (None: deleted), its result, or its failure."""

    state: str | None
    result: str = "null"
    error: ErrorInfo | None = None
    #: (entity, operation, encoded arg) signalled by the operation
    signals: list[tuple[EntityId, str, str]] = field(default_factory=list)


class Entity:
    """A registered entity: a class whose public methods are operations, or a function
    ``(state, op, arg) -> (new_state, result)``."""

    def __init__(self, target: Any, name: str) -> None:
        check_text(name, "@app.entity(name)")
        if ENTITY_PREFIX in name:
            raise ConfigurationError(f"@app.entity(name={name!r}): an entity name has no '@'")
        self.target = target
        self.name = name
        if hasattr(target, "__name__"):  # the docs and the decorator's name default read these
            functools.update_wrapper(self, target, updated=())
        self.is_class = inspect.isclass(target)
        if self.is_class:
            self.operations = {
                op: member
                for op, member in inspect.getmembers(target, inspect.isfunction)
                if not op.startswith("_") and op not in _RESERVED
            }
            if not self.operations:
                raise ConfigurationError(
                    f"entity {name!r}: the class {target.__qualname__} has no public method "
                    "(each public method is an operation)"
                )
            bad = [op for op, fn in self.operations.items() if not _plain(fn)]
        elif callable(target):
            self.operations = {}
            bad = [] if _plain(target) else [name]
        else:
            raise ConfigurationError(f"@app.entity needs a class or a function, got {target!r}")
        if bad:
            raise ConfigurationError(
                f"entity {name!r}: {', '.join(bad)} must be a plain function (an operation runs "
                "at once, in the entity's transaction: no async def, no generator)"
            )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.target(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<entity {self.name!r}>"

    def run(
        self,
        serializer: Serializer,
        entity_id: EntityId,
        state: str | None,
        operation: str,
        arg: str,
    ) -> OperationResult:
        """Run ``operation`` on the encoded ``state`` (None: new or deleted)."""
        signals: list[tuple[EntityId, str, str]] = []
        try:
            if self.is_class:
                new_state, result = self._run_method(
                    serializer, entity_id, state, operation, arg, signals
                )
            else:
                new_state, result = self._run_function(serializer, state, operation, arg)
            encoded_state = (
                None if new_state is DELETE else serializer.encode(new_state, path="entity state")
            )
            encoded = serializer.encode(result, path=f"result of {operation!r}")
        except Exception as exc:
            error = ErrorInfo(qualified_name(type(exc)), str(exc), traceback.format_exc())
            return OperationResult(state, error=error)
        return OperationResult(encoded_state, encoded, signals=signals)

    def _run_function(
        self, serializer: Serializer, state: str | None, operation: str, arg: str
    ) -> tuple[Any, Any]:
        value = None if state is None else serializer.decode(state, path="entity state")
        returned = self.target(value, operation, serializer.decode(arg, path="arg"))
        if not isinstance(returned, tuple) or len(returned) != 2:
            raise TypeError(
                f"entity {self.name!r} returned {type(returned).__name__}: a function entity "
                "returns (new_state, result)"
            )
        return returned[0], returned[1]

    def _run_method(
        self,
        serializer: Serializer,
        entity_id: EntityId,
        state: str | None,
        operation: str,
        arg: str,
        signals: list[tuple[EntityId, str, str]],
    ) -> tuple[Any, Any]:
        method = self.operations.get(operation)
        if method is None:
            known = ", ".join(sorted(self.operations))
            raise ValueError(
                f"entity {self.name!r} has no operation {operation!r} (operations: {known})"
            )
        obj = self.target()
        deleted: list[bool] = []

        def signal_entity(target: EntityId, op: str, value: Any = None) -> None:
            entity = as_entity_id(target, "signal_entity(entity_id)")
            check_text(op, "signal_entity(operation)")
            signals.append((entity, op, serializer.encode(value, path=f"signal_entity({op!r})")))

        obj.entity_id = entity_id
        obj.signal_entity = signal_entity
        obj.delete = lambda: deleted.append(True)
        obj.state = (
            _initial(obj, serializer)
            if state is None
            else serializer.decode(state, path="entity state")
        )
        params = list(inspect.signature(method).parameters.values())[1:]
        if params:
            hint = _hint(method, params[0].name)
            result = method(obj, serializer.decode(arg, hint, path=f"arg of {operation!r}"))
        else:
            result = method(obj)
        return (DELETE if deleted else obj.state), result


def _plain(fn: Callable[..., Any]) -> bool:
    return not (
        inspect.iscoroutinefunction(fn)
        or inspect.isgeneratorfunction(fn)
        or inspect.isasyncgenfunction(fn)
    )


def _initial(obj: Any, serializer: Serializer) -> Any:
    """A new entity's state: ``initial_state()``, else a copy of the class attribute ``state``."""
    initial = getattr(obj, "initial_state", None)
    if callable(initial):
        return initial()
    value = getattr(type(obj), "state", None)
    return serializer.decode(serializer.encode(value, path="initial state"), path="initial state")


def _hint(method: Callable[..., Any], param: str) -> Any:
    try:
        return inspect.get_annotations(method, eval_str=True).get(param, Any)
    except Exception:  # an annotation that does not resolve: decode as plain JSON
        return Any
