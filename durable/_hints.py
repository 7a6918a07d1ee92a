"""What types say about themselves: the type hints of functions and classes, and their fields.

Decoding converts under these hints (``_convert``); encoding walks a dataclass's fields and
recognises pydantic models (``_encoders``) without importing pydantic.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import types
import typing
from collections.abc import Callable
from typing import Any


def _is_pydantic_model(hint: object) -> bool:
    # Never imported here: a model (or a hint naming one) exists only once pydantic is loaded.
    base = getattr(sys.modules.get("pydantic"), "BaseModel", None)
    return base is not None and _is_class(hint, base)


def _is_class(hint: object, base: type) -> bool:
    return isinstance(hint, type) and issubclass(hint, base)


@functools.lru_cache(maxsize=1024)
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(cls))


# ---------------------------------------------------------------- hints


def _resolve(annotation: object, globalns: dict[str, Any], localns: Any) -> Any:
    probe = types.SimpleNamespace(__annotations__={"hint": annotation})
    try:
        return typing.get_type_hints(probe, globalns, localns)["hint"]
    except Exception:  # evaluating an annotation runs user code: NameError, TypeError, ...
        return Any


def _hints_one_by_one(fn: Any) -> dict[str, Any]:
    owners = list(reversed(fn.__mro__)) if isinstance(fn, type) else [inspect.unwrap(fn)]
    hints: dict[str, Any] = {}
    for owner in owners:
        if isinstance(owner, type):
            globalns = (
                vars(sys.modules[owner.__module__]) if owner.__module__ in sys.modules else {}
            )
            localns: Any = dict(vars(owner))
        else:
            globalns, localns = getattr(owner, "__globals__", {}), None
        for name, annotation in inspect.get_annotations(owner).items():
            hints[name] = _resolve(annotation, globalns, localns)
    return hints


@functools.lru_cache(maxsize=4096)
def hints_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """The type hints of ``fn`` (a function or a class), cached; callers must not mutate them.

    An annotation that does not resolve (a name imported only under ``TYPE_CHECKING``) counts
    as ``Any`` instead of failing every other hint with it.
    """
    try:
        return typing.get_type_hints(fn)
    except Exception:
        return _hints_one_by_one(fn)


def return_hint(fn: Callable[..., Any] | None) -> Any:
    """The return annotation of ``fn``, or ``Any`` when there is none (or no ``fn``)."""
    return Any if fn is None else hints_of(fn).get("return", Any)
