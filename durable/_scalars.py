"""JSON scalars converted to the types that travel as them, and the mismatch error.

JSON's own types convert by exact checks (a bool is no int); float takes an int too; the types
encoding carries as a str or an int (datetime, UUID, Decimal, bytes, timedelta, ...) are parsed,
and a parse error names the text. ``_convert`` looks a hint up in ``_CONVERTERS`` first.
"""

from __future__ import annotations

import base64
import types
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from durable._value_paths import _Fail, _got, _short

_Converter = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _mismatch(hint: object, value: object) -> _Fail:
    return _Fail(f"expected {_hint_name(hint)}, got {_got(value)}")


def _hint_name(hint: object) -> str:
    if isinstance(hint, type) and not isinstance(hint, types.GenericAlias):
        return hint.__qualname__
    return repr(hint).replace("typing.", "")


def _exact(cls: type) -> _Converter:
    """JSON's own types: exact checks, so that a bool is no int and a str no list."""

    def convert(value: Any) -> Any:
        if type(value) is cls:
            return value
        raise _mismatch(cls, value)

    return convert


def _parsed(cls: type, json_type: type, parse: Callable[[Any], Any]) -> _Converter:
    """Types carried as a str (or int): parse errors become mismatches naming the text."""

    def convert(value: Any) -> Any:
        if type(value) is not json_type:
            raise _mismatch(cls, value)
        try:
            return parse(value)
        except (ValueError, ArithmeticError) as exc:
            raise _Fail(f"invalid {cls.__name__} {_short.repr(value)}: {exc}") from None

    return convert


def _dec_float(value: Any) -> float:
    if type(value) is float:
        return value
    if type(value) is int:  # json.dumps(2.0) is "2.0", but other writers may send 2
        try:
            return float(value)
        except OverflowError:
            raise _Fail(f"int {_short.repr(value)} is too large for a float") from None
    raise _mismatch(float, value)


def _dec_none(value: Any) -> None:
    if value is not None:
        raise _mismatch(None, value)


def _parse_decimal(text: str) -> Decimal:
    number = Decimal(text)
    if not number.is_finite():
        raise ValueError("not a finite number")
    return number


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


_CONVERTERS: dict[object, _Converter] = {
    Any: _identity,
    object: _identity,
    int: _exact(int),
    str: _exact(str),
    bool: _exact(bool),
    list: _exact(list),
    dict: _exact(dict),
    float: _dec_float,
    None: _dec_none,
    type(None): _dec_none,
    tuple: _parsed(tuple, list, tuple),
    datetime: _parsed(datetime, str, datetime.fromisoformat),
    date: _parsed(date, str, date.fromisoformat),
    time: _parsed(time, str, time.fromisoformat),
    timedelta: _parsed(timedelta, int, lambda micros: timedelta(microseconds=micros)),
    UUID: _parsed(UUID, str, UUID),
    Decimal: _parsed(Decimal, str, _parse_decimal),
    bytes: _parsed(bytes, str, _b64),
    bytearray: _parsed(bytearray, str, lambda text: bytearray(_b64(text))),
}
