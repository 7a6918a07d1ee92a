"""JSON values converted to the types the receiver's type hints describe.

Payloads are untagged JSON (see ``_serde``): types come back only from the type hints of the
receiving function, its parameters or the return annotation of the function that produced a
result, so decoding can neither import nor execute anything. Each hint is compiled once into a
converter function; a mismatch names its path the way encoding does (``result.items[2]``).

Scalars convert by ``_scalars``; this module compiles the rest (containers, unions, literals,
dataclasses, TypedDicts, named tuples, enums, pydantic models). ``MAX_DEPTH`` (``_value_paths``),
``hints_of`` and ``return_hint`` (``_hints``) are re-exported here.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping, MutableMapping, MutableSequence, Sequence
from enum import Enum
from typing import Any, TypeVar

from durable._errors import SerializationError
from durable._hints import _field_names, _is_class, _is_pydantic_model
from durable._hints import hints_of as hints_of
from durable._hints import return_hint as return_hint
from durable._scalars import _CONVERTERS, _Converter, _hint_name, _identity, _mismatch
from durable._value_paths import MAX_DEPTH as MAX_DEPTH
from durable._value_paths import _Fail, _got, _short

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
