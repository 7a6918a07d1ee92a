"""JSON values converted to the types the receiver's type hints describe.

Payloads are untagged JSON (see ``_serde``): types come back only from the type hints of the
receiving function, its parameters or the return annotation of the function that produced a
result, so decoding can neither import nor execute anything. Each hint is compiled once into a
converter function; a mismatch names its path the way encoding does (``result.items[2]``).

Also the helpers encoding shares (``_serde`` imports this module, never the other way round).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import inspect
import reprlib
import sys
import types
import typing
from collections.abc import Callable, Mapping, MutableMapping, MutableSequence, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar
from uuid import UUID

from durable._errors import SerializationError

MAX_DEPTH = 256
"""Values nested deeper than this (lists, dicts, dataclasses) are refused both ways."""

_Converter = Callable[[Any], Any]

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 40

# ---------------------------------------------------------------- shared with encoding


class _Fail(Exception):
    """A failure deep inside a value; each container it passes through adds its path segment."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.segments: list[str] = []

    def error(self, root: str) -> SerializationError:
        return SerializationError(self.message, path=root + "".join(reversed(self.segments)))


def _got(value: object) -> str:
    return f"{type(value).__name__} ({_short.repr(value)})"


def _is_pydantic_model(hint: object) -> bool:
    # Never imported here: a model (or a hint naming one) exists only once pydantic is loaded.
    base = getattr(sys.modules.get("pydantic"), "BaseModel", None)
    return base is not None and _is_class(hint, base)


def _is_class(hint: object, base: type) -> bool:
    return isinstance(hint, type) and issubclass(hint, base)


@functools.lru_cache(maxsize=1024)
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(cls))


# ---------------------------------------------------------------- decoding: JSON value + hint


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

# Compiled converters by the identity of the hint object. Not by equality: typing holds
# `int | str == str | int`, but a union's members are tried in order, so they convert differently.
_COMPILED: dict[int, tuple[object, _Converter]] = {}


def _converter(hint: object) -> _Converter:
    entry = _COMPILED.get(id(hint))
    if entry is not None and entry[0] is hint:
        return entry[1]
    converter = _compile(hint)
    if len(_COMPILED) >= 4096:  # hints built afresh per call (`list[int]`) must not pile up
        _COMPILED.clear()
    _COMPILED[id(hint)] = (hint, converter)  # holding the hint keeps its id from being reused
    return converter


def _compile(hint: object) -> _Converter:
    try:
        converter = _CONVERTERS.get(hint)
    except TypeError:  # an unhashable hint, e.g. Annotated with a dict
        converter = None
    if converter is not None:
        return converter
    builder = _GENERICS.get(typing.get_origin(hint))
    if builder is not None:
        return builder(hint, typing.get_args(hint))
    for applies, build in _SPECIAL:
        if applies(hint):
            return build(hint)
    return _instance_of(hint)


def _list_of(hint: object, args: tuple[Any, ...]) -> _Converter:
    item = _converter(args[0]) if args else _identity

    def convert(value: Any) -> Any:
        if type(value) is not list:
            raise _mismatch(hint, value)
        if item is _identity:
            return value
        return _convert_items(value, item)

    return convert


def _convert_items(value: list[Any], item: _Converter) -> list[Any]:
    out: list[Any] = []
    try:
        for element in value:
            out.append(item(element))
    except _Fail as fail:
        fail.segments.append(f"[{len(out)}]")
        raise
    return out


def _tuple_of(hint: object, args: tuple[Any, ...]) -> _Converter:
    if len(args) == 2 and args[1] is Ellipsis:
        as_list = _list_of(hint, args[:1])
        return lambda value: tuple(as_list(value))
    items = [_converter(arg) for arg in args]

    def convert(value: Any) -> Any:
        if type(value) is not list or (items and len(value) != len(items)):
            raise _mismatch(hint, value)
        if not items:  # bare Tuple
            return tuple(value)
        out = []
        try:
            for element, item in zip(value, items, strict=True):
                out.append(item(element))
        except _Fail as fail:
            fail.segments.append(f"[{len(out)}]")
            raise
        return tuple(out)

    return convert


def _dict_of(hint: object, args: tuple[Any, ...]) -> _Converter:
    key_hint, item_hint = args or (Any, Any)
    # JSON object keys are str already: dict[str, X] converts the values only.
    key_of = _identity if key_hint is str else _converter(key_hint)
    item_of = _converter(item_hint)

    def convert(value: Any) -> Any:
        if type(value) is not dict:
            raise _mismatch(hint, value)
        if key_of is _identity and item_of is _identity:
            return value
        out = {}
        key = None
        try:
            for key, item in value.items():
                out[key_of(key)] = item_of(item)
        except _Fail as fail:
            fail.segments.append(f"[{key!r}]")
            raise
        return out

    return convert


def _union_of(hint: object, args: tuple[Any, ...]) -> _Converter:
    optional = type(None) in args
    members = [_converter(arg) for arg in args if arg is not type(None)]
    if optional and len(members) == 1:  # Optional[X]: X's own error is the precise one
        return lambda value: None if value is None else members[0](value)

    def convert(value: Any) -> Any:
        if optional and value is None:
            return None
        for member in members:  # in order: the first that converts wins
            try:
                return member(value)
            except _Fail:
                continue
        raise _mismatch(hint, value)

    return convert


def _literal_of(hint: object, args: tuple[Any, ...]) -> _Converter:
    def convert(value: Any) -> Any:
        for arg in args:  # type too: Literal[1] does not take True
            carried = arg.value if isinstance(arg, Enum) else arg
            if carried == value and type(carried) is type(value):
                return arg
        raise _mismatch(hint, value)

    return convert


_GENERICS: dict[object, Callable[[object, tuple[Any, ...]], _Converter]] = {
    list: _list_of,
    Sequence: _list_of,
    MutableSequence: _list_of,
    tuple: _tuple_of,
    dict: _dict_of,
    Mapping: _dict_of,
    MutableMapping: _dict_of,
    typing.Union: _union_of,
    types.UnionType: _union_of,
    typing.Literal: _literal_of,
    typing.Annotated: lambda hint, args: _converter(args[0]),
}


@dataclasses.dataclass(frozen=True)
class _Fields:
    """How to convert a JSON object into the fields of a dataclass or TypedDict."""

    owner: str
    converters: dict[str, _Converter]
    required: frozenset[str]

    def convert(self, value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise _Fail(f"expected {self.owner} (a JSON object), got {_got(value)}")
        out = {}
        key = ""
        try:
            for key, item in value.items():
                converter = self.converters.get(key)
                if converter is None:
                    raise _Fail(f"{self.owner} has no field {key!r}")
                out[key] = converter(item)
        except _Fail as fail:
            fail.segments.append(f".{key}" if key.isidentifier() else f"[{key!r}]")
            raise
        if missing := self.required - out.keys():
            raise _Fail(f"missing required field(s) of {self.owner}: {', '.join(sorted(missing))}")
        return out


def _fields(cls: type, required: frozenset[str]) -> _Fields:
    names = _field_names(cls) if dataclasses.is_dataclass(cls) else tuple(hints_of(cls))
    hints = hints_of(cls)
    converters = {name: _converter(hints.get(name, Any)) for name in names}
    return _Fields(cls.__qualname__, converters, required)


def _dataclass(cls: type) -> _Converter:
    plan: _Fields | None = None  # built on first use, so that a recursive dataclass compiles
    fields = dataclasses.fields(cls)
    init = {field.name for field in fields if field.init}
    required = frozenset(
        field.name
        for field in fields
        if field.init
        and field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
    )

    def convert(value: Any) -> Any:
        nonlocal plan
        plan = plan or _fields(cls, required)
        data = plan.convert(value)
        try:
            instance = cls(**{name: data[name] for name in data.keys() & init})
        except (TypeError, ValueError) as exc:
            raise _Fail(f"{cls.__qualname__}(...) raised {exc!r}") from exc
        for name in data.keys() - init:
            object.__setattr__(instance, name, data[name])  # init=False fields, frozen or not
        return instance

    return convert


def _typed_dict(cls: Any) -> _Converter:
    plan: _Fields | None = None

    def convert(value: Any) -> Any:
        nonlocal plan
        plan = plan or _fields(cls, cls.__required_keys__)
        return plan.convert(value)

    return convert


def _enum(cls: type[Enum]) -> _Converter:
    def convert(value: Any) -> Any:
        try:  # a tuple value was encoded as a JSON array
            return cls(tuple(value) if type(value) is list else value)
        except ValueError:
            raise _Fail(f"{_short.repr(value)} is not a value of {cls.__qualname__}") from None

    return convert


def _pydantic(cls: Any) -> _Converter:
    def convert(value: Any) -> Any:
        try:
            return cls.model_validate(value)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise _Fail(f"invalid {cls.__qualname__}: {exc}") from exc

    return convert


def _named_tuple(cls: Any) -> _Converter:
    as_tuple: _Converter | None = None  # built on first use, as for dataclasses

    def convert(value: Any) -> Any:
        nonlocal as_tuple
        if as_tuple is None:
            hints = hints_of(cls)
            as_tuple = _tuple_of(cls, tuple(hints.get(name, Any) for name in cls._fields))
        return cls(*as_tuple(value))

    return convert


def _instance_of(hint: Any) -> _Converter:
    """Hints we do not know: an instance passes unchanged (JSON cannot make one anyway)."""
    cls = typing.get_origin(hint) or hint

    def convert(value: Any) -> Any:
        try:
            if isinstance(value, cls):
                return value
        except TypeError:
            raise _Fail(f"unsupported type hint {_hint_name(hint)}") from None
        raise _mismatch(hint, value)

    return convert


_SPECIAL: list[tuple[Callable[[Any], bool], Callable[[Any], _Converter]]] = [
    (lambda hint: _is_class(hint, Enum), _enum),
    (lambda hint: _is_class(hint, object) and dataclasses.is_dataclass(hint), _dataclass),
    (_is_pydantic_model, _pydantic),
    (lambda hint: _is_class(hint, tuple) and hasattr(hint, "_fields"), _named_tuple),
    (typing.is_typeddict, _typed_dict),
    (lambda hint: isinstance(hint, typing.NewType), lambda hint: _converter(hint.__supertype__)),
    (lambda hint: isinstance(hint, TypeVar), lambda hint: _identity),
]


def convert(value: object, hint: object = Any, *, path: str = "value") -> Any:
    """Convert a JSON value (as ``json.loads`` returns it) to the type ``hint`` describes.

    Raises:
        SerializationError: the value does not fit the hint; ``path`` prefixes the location.
    """
    try:
        return _converter(hint)(value)
    except _Fail as fail:
        raise fail.error(path) from fail.__cause__
    except RecursionError:
        raise SerializationError(f"nested deeper than {MAX_DEPTH} levels", path=path) from None


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
