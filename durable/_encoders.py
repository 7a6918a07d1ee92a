"""Encoding: a value walked once into its JSON-ready form, one encoder per type.

The walk builds the structure ``json`` will print and refuses on the way whatever JSON cannot
carry faithfully (NaN, NUL characters, int keys, sets, cycles, ...), with the path to the culprit:
attributes after a dot, dict keys and list indexes in brackets (``order.items[2]``).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import math
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from durable._errors import SerializationError
from durable._hints import _field_names, _is_pydantic_model
from durable._value_paths import MAX_DEPTH, _Fail, _got, _short

SUPPORTED = (
    "None, bool, int, float, str, list, tuple, dict with str keys, datetime, date, time, "
    "timedelta, UUID, Decimal, bytes, Enum, dataclasses and pydantic models"
)
"""What encoding accepts, as error messages list it."""
_INT_LIMIT = 10**4300  # CPython refuses to print or parse ints of more than 4,300 digits
_MICROSECOND, _SECOND = timedelta(microseconds=1), timedelta(seconds=1)
_Encoder = Callable[[Any, set[int]], Any]


def _walk(value: object, stack: set[int]) -> Any:
    """The JSON-ready form of value; stack holds the ids of the enclosing containers."""
    cls: Any = type(value)
    encoder = _ENCODERS.get(cls) or _encoder_for(cls)
    return encoder(value, stack)


def _enter(value: object, stack: set[int]) -> None:
    if id(value) in stack:
        raise _Fail(f"circular reference: this {type(value).__name__} contains itself")
    if len(stack) >= MAX_DEPTH:
        raise _Fail(f"nested deeper than {MAX_DEPTH} levels")
    stack.add(id(value))


def _enc_same(value: object, stack: set[int]) -> object:
    return value


def _enc_int(value: int, stack: set[int]) -> int:
    if -_INT_LIMIT < value < _INT_LIMIT:
        return value
    raise _Fail("int has more than 4,300 digits, which Python refuses to parse; send a str")


def _enc_float(value: float, stack: set[int]) -> float:
    if math.isfinite(value):
        return value
    raise _Fail(f"float {value} is not finite; JSON and PostgreSQL cannot carry it")


def _enc_str(value: str, stack: set[int]) -> str:
    # PostgreSQL rejects both in jsonb; refusing them on every store keeps stores interchangeable.
    if "\x00" in value:
        raise _Fail(f"str {_short.repr(value)} contains '\\x00', which PostgreSQL rejects")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = value[exc.start]
            raise _Fail(f"str contains a lone surrogate {bad!r}, which is not UTF-8") from None
    return value


def _enc_list(value: list[Any] | tuple[Any, ...], stack: set[int]) -> list[Any]:
    _enter(value, stack)
    out: list[Any] = []
    try:
        for item in value:
            out.append(_walk(item, stack))
    except _Fail as fail:
        fail.segments.append(f"[{len(out)}]")
        raise
    stack.discard(id(value))
    return out


def _enc_key(key: object, stack: set[int]) -> str:
    if type(key) is str:
        return _enc_str(key, stack)
    if isinstance(key, Enum) and type(key.value) is str:
        return _enc_str(key.value, stack)
    # Plain json would silently turn {1: 2} into {"1": 2}.
    raise _Fail(f"dict key {key!r} is a {type(key).__name__}; JSON object keys are str")


def _enc_dict(value: dict[Any, Any], stack: set[int]) -> dict[str, Any]:
    _enter(value, stack)
    out = {}
    key: object = None
    try:
        for key, item in value.items():
            out[_enc_key(key, stack)] = _walk(item, stack)
    except _Fail as fail:
        fail.segments.append(f"[{key!r}]")
        raise
    stack.discard(id(value))
    return out


def _enc_dataclass(value: Any, stack: set[int]) -> dict[str, Any]:
    # Not dataclasses.asdict: that deep-copies every field we would walk anyway.
    _enter(value, stack)
    out = {}
    name = ""
    try:
        for name in _field_names(value.__class__):
            out[name] = _walk(getattr(value, name), stack)
    except _Fail as fail:
        fail.segments.append(f".{name}")
        raise
    stack.discard(id(value))
    return out


def _enc_pydantic(value: Any, stack: set[int]) -> Any:
    try:
        dumped = value.model_dump(mode="json")
    except ValueError as exc:
        raise _Fail(f"pydantic could not dump {type(value).__name__}: {exc}") from exc
    return _walk(dumped, stack)  # still walked: it may hold NaN or '\x00'


def _enc_clock(value: datetime | time, stack: set[int]) -> str:
    offset = value.utcoffset()
    # CPython 3.11 reads "+00:00:00.5" back as UTC; no real time zone has such an offset.
    if offset and -_SECOND < offset < _SECOND:
        raise _Fail(f"UTC offset {offset} of {value!r} is under a second and would be lost")
    return value.isoformat()


def _enc_decimal(value: Decimal, stack: set[int]) -> str:
    if value.is_finite():
        return str(value)
    raise _Fail(f"Decimal {value} is not finite")


def _enc_set(value: object, stack: set[int]) -> None:
    raise _Fail(f"a {type(value).__name__} has no JSON form; convert it to a list")


def _enc_unsupported(value: object, stack: set[int]) -> None:
    raise _Fail(f"cannot serialize {_got(value)}; supported: {SUPPORTED}")


_ENCODERS: dict[type, _Encoder] = {
    str: _enc_str,
    int: _enc_int,
    bool: _enc_same,
    type(None): _enc_same,
    float: _enc_float,
    list: _enc_list,
    tuple: _enc_list,
    dict: _enc_dict,
    datetime: _enc_clock,
    date: lambda value, stack: value.isoformat(),
    time: _enc_clock,
    timedelta: lambda value, stack: value // _MICROSECOND,  # exact integer microseconds
    UUID: lambda value, stack: str(value),
    Decimal: _enc_decimal,
    bytes: lambda value, stack: base64.b64encode(value).decode("ascii"),
    bytearray: lambda value, stack: base64.b64encode(value).decode("ascii"),
    set: _enc_set,
    frozenset: _enc_set,
}


@functools.lru_cache(maxsize=1024)
def _encoder_for(cls: type) -> _Encoder:
    """The encoder of a type that is not in _ENCODERS itself (Enums, dataclasses, subclasses)."""
    if issubclass(cls, Enum):  # before the bases: an IntEnum is an int too
        return lambda value, stack: _walk(value.value, stack)
    if dataclasses.is_dataclass(cls):
        return _enc_dataclass
    if _is_pydantic_model(cls):
        return _enc_pydantic
    base = next((base for base in cls.__mro__ if base in _ENCODERS), None)
    return _ENCODERS[base] if base else _enc_unsupported


def _ready(value: object, label: Callable[..., str], *parts: object, walk: _Encoder = _walk) -> Any:
    """The JSON-ready form of value; errors name the path ``label(*parts)`` (built only then)."""
    try:
        return walk(value, set())
    except _Fail as fail:
        raise fail.error(label(*parts)) from fail.__cause__
    except RecursionError:  # from a user's model_dump, say: our own walk stops at MAX_DEPTH
        path = label(*parts)
        raise SerializationError(f"nested deeper than {MAX_DEPTH} levels", path=path) from None
