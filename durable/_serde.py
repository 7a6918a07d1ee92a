"""JSON payloads, decoded under the receiver's type hints.

Payloads are untagged JSON: they never name a Python type, so decoding one can neither import nor
execute anything (no pickle, no ``{"py/object": ...}``). Types come back only from the type hints
of the receiving function: its parameters, or the return annotation of the function that produced
a result.

Encoding walks a value once, building a JSON-ready structure and refusing on the way whatever JSON
cannot carry faithfully, with the path to the culprit: attributes after a dot, dict keys and list
indexes in brackets (``order.items[2]``, ``result['k']``). Decoding compiles each hint once into a
converter function.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import inspect
import json
import math
import reprlib
import sys
import types
import typing
from collections.abc import Callable, Mapping, MutableMapping, MutableSequence, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol, TypeVar
from uuid import UUID

from durable._errors import ConfigurationError, SerializationError

DEFAULT_MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
"""The default limit on the UTF-8 size of one payload's JSON text (as Temporal's)."""

MAX_DEPTH = 256
"""Values nested deeper than this (lists, dicts, dataclasses) are refused both ways."""

SUPPORTED = (
    "None, bool, int, float, str, list, tuple, dict with str keys, datetime, date, time, "
    "timedelta, UUID, Decimal, bytes, Enum, dataclasses and pydantic models"
)
_INT_LIMIT = 10**4300  # CPython refuses to print or parse ints of more than 4,300 digits
_MICROSECOND = timedelta(microseconds=1)
_T = TypeVar("_T")
_Encoder = Callable[[Any, set[int]], Any]
_Converter = Callable[[Any], Any]

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 40


class PayloadCodec(Protocol):
    """Wraps every payload after JSON encoding (compression, encryption at rest)."""

    def encode(self, text: str) -> str:
        """Turn JSON text into the text that is stored."""
        ...

    def decode(self, text: str) -> str:
        """Turn stored text back into the JSON text ``encode`` was given."""
        ...


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


def _memoized(func: Callable[..., _T]) -> Callable[..., _T]:
    """functools.lru_cache, falling back to a plain call for unhashable arguments."""
    cached = functools.lru_cache(maxsize=4096)(func)

    @functools.wraps(func)
    def call(*args: Any) -> _T:
        try:
            hash(args)
        except TypeError:
            return func(*args)
        return cached(*args)

    return call


def _pydantic_model_class() -> type | None:
    # Never imported here: a model (or a hint naming one) exists only once pydantic is loaded.
    return getattr(sys.modules.get("pydantic"), "BaseModel", None)


def _is_pydantic_model(hint: object) -> bool:
    base = _pydantic_model_class()
    return base is not None and isinstance(hint, type) and issubclass(hint, base)


# ---------------------------------------------------------------- encoding: value -> JSON-ready


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


@functools.lru_cache(maxsize=1024)
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(cls))


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
    datetime: lambda value, stack: value.isoformat(),
    date: lambda value, stack: value.isoformat(),
    time: lambda value, stack: value.isoformat(),
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
        return float(value)
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
    tuple: lambda value: tuple(_exact(list)(value)),
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
    key_of, item_of = (_converter(args[0]), _converter(args[1])) if args else (_identity,) * 2

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
        try:
            return cls(value)
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
    (lambda hint: isinstance(hint, type) and issubclass(hint, Enum), _enum),
    (lambda hint: isinstance(hint, type) and dataclasses.is_dataclass(hint), _dataclass),
    (_is_pydantic_model, _pydantic),
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


# ---------------------------------------------------------------- hints and signatures


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


@_memoized
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


@dataclasses.dataclass(frozen=True)
class _CallShape:
    """Which parameter each argument of a call lands in: its label in errors and its hint."""

    signature: inspect.Signature | None
    positional: tuple[str, ...] = ()
    var_positional: str | None = None
    keywords: frozenset[str] = frozenset()
    var_keyword: str | None = None
    hints: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def label(self, name: str, where: int | str) -> str:
        """The path of an argument: an index into the positional ones, or a keyword."""
        if isinstance(where, str):
            return f"{name}({where}=...)" if where != "**" else f"{name}(**kwargs)"
        if where < len(self.positional):
            return f"{name}({self.positional[where]}=...)"
        if self.var_positional:
            return f"{name}(*{self.var_positional}[{where - len(self.positional)}])"
        return f"{name}(args[{where}])"

    def positional_hint(self, index: int) -> Any:
        name = self.positional[index] if index < len(self.positional) else self.var_positional
        return self.hints.get(name, Any) if name else Any

    def keyword_hint(self, key: str) -> Any:
        name = key if key in self.keywords else self.var_keyword
        return self.hints.get(name, Any) if name else Any


_UNKNOWN_CALL = _CallShape(None)


@_memoized
def _call_shape(fn: Callable[..., Any], skip_first: bool) -> _CallShape:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"cannot read the signature of {fn!r}: {exc}") from exc
    params = list(signature.parameters.values())[1 if skip_first else 0 :]
    kinds = {param.name: param.kind for param in params}
    by_kind = {kind: name for name, kind in kinds.items()}
    return _CallShape(
        signature.replace(parameters=params),
        positional=tuple(n for n, k in kinds.items() if k <= k.POSITIONAL_OR_KEYWORD),
        var_positional=by_kind.get(inspect.Parameter.VAR_POSITIONAL),
        keywords=frozenset(
            n for n, k in kinds.items() if k in (k.POSITIONAL_OR_KEYWORD, k.KEYWORD_ONLY)
        ),
        var_keyword=by_kind.get(inspect.Parameter.VAR_KEYWORD),
        hints=hints_of(fn),
    )


# ---------------------------------------------------------------- the serializer


class Serializer:
    """Encodes values to JSON payloads and decodes them under type hints.

    Args:
        codec: wraps every payload after JSON encoding (compression, encryption at rest).
        max_payload_bytes: the largest UTF-8 size of one payload's JSON text, checked before
            the codec runs.
    """

    def __init__(
        self,
        *,
        codec: PayloadCodec | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        self.codec = codec
        self.max_payload_bytes = max_payload_bytes

    def encode(self, value: object, *, path: str = "value") -> str:
        """The payload of ``value``: JSON text, passed through the codec.

        Raises:
            SerializationError: value holds something unsupported or lossy (its path is named),
                or its JSON is larger than ``max_payload_bytes``.
        """
        return self._finish(_ready(value, str, path), path)

    def decode(self, payload: str, hint: object = Any, *, path: str = "value") -> Any:
        """The value of ``payload``, converted to the type ``hint`` describes.

        Raises:
            SerializationError: the payload is malformed, nested too deeply, or does not fit
                the hint (the path of the mismatch is named).
        """
        return convert(self._load(payload, path), hint, path=path)

    def encode_call(
        self,
        fn: Callable[..., Any] | None,
        name: str,
        args: Sequence[object],
        kwargs: Mapping[str, object],
        *,
        skip_first: bool = False,
    ) -> str:
        """The payload of a call of ``fn`` (registered as ``name``): ``{"args": [], "kwargs": {}}``.

        With ``skip_first`` the first parameter (an orchestrator's ``ctx``) takes no argument.

        Raises:
            ConfigurationError: the arguments do not bind to ``fn``'s signature.
            SerializationError: an argument cannot be encoded, e.g. at path
                ``"charge(order_id=...).items[2]"`` (``"charge(args[1])"`` without ``fn``).
        """
        shape = _UNKNOWN_CALL if fn is None else _call_shape(fn, skip_first)
        if shape.signature is not None:
            try:
                shape.signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise ConfigurationError(f"{name}(...): {exc}") from None
        data = {
            "args": [_ready(arg, shape.label, name, i) for i, arg in enumerate(args)],
            "kwargs": {
                _ready(key, shape.label, name, "**"): _ready(arg, shape.label, name, key)
                for key, arg in kwargs.items()
            },
        }
        return self._finish(data, name)

    def decode_call(
        self, payload: str, fn: Callable[..., Any] | None, *, skip_first: bool = False
    ) -> tuple[list[Any], dict[str, Any]]:
        """The positional and keyword arguments in a payload of ``encode_call``.

        Each is converted under the annotation of the parameter it lands in (``Any`` when
        ``fn`` is None or the parameter is unannotated).
        """
        name = getattr(fn, "__name__", "call")
        data = self._load(payload, name)
        if not (
            type(data) is dict
            and type(data.get("args")) is list
            and type(data.get("kwargs")) is dict
        ):
            expected = 'expected {"args": [...], "kwargs": {...}}'
            raise SerializationError(f"{expected}, got {_got(data)}", path=name)
        shape = _UNKNOWN_CALL if fn is None else _call_shape(fn, skip_first)
        args = [
            convert(arg, shape.positional_hint(i), path=shape.label(name, i))
            for i, arg in enumerate(data["args"])
        ]
        kwargs = {
            key: convert(arg, shape.keyword_hint(key), path=shape.label(name, key))
            for key, arg in data["kwargs"].items()
        }
        return args, kwargs

    def _finish(self, ready: object, path: str) -> str:
        text = _JSON_ENCODER.encode(ready)
        # A str of n code points is at most 4n UTF-8 bytes: most payloads skip the encoding.
        if len(text) * 4 > self.max_payload_bytes:
            size = len(text.encode("utf-8"))
            if size > self.max_payload_bytes:
                raise SerializationError(
                    f"payload is {size:,} bytes, over the limit of {self.max_payload_bytes:,} "
                    "(configurable: Serializer(max_payload_bytes=...))",
                    path=path,
                )
        return text if self.codec is None else self.codec.encode(text)

    def _load(self, payload: str, path: str) -> Any:
        try:
            text = payload if self.codec is None else self.codec.decode(payload)
            value = _JSON_DECODER.decode(text)
        except RecursionError:
            raise SerializationError(f"nested deeper than {MAX_DEPTH} levels", path=path) from None
        except Exception as exc:  # codec errors, JSONDecodeError, over-long ints: all bad data
            raise SerializationError(f"malformed payload: {exc}", path=path) from exc
        # Nesting can only exceed MAX_DEPTH if there are that many brackets at all.
        if text.count("[") + text.count("{") > MAX_DEPTH:
            _check_depth(value, 0, path)
        return value


def _ready(value: object, label: Callable[..., str], *parts: object) -> Any:
    """The JSON-ready form of value; errors name the path ``label(*parts)`` (built only then)."""
    try:
        return _walk(value, set())
    except _Fail as fail:
        raise fail.error(label(*parts)) from fail.__cause__
    except RecursionError:  # from a user's model_dump, say: our own walk stops at MAX_DEPTH
        path = label(*parts)
        raise SerializationError(f"nested deeper than {MAX_DEPTH} levels", path=path) from None


def _check_depth(value: object, depth: int, path: str) -> None:
    if type(value) is list:
        children: Any = value
    elif type(value) is dict:
        children = value.values()
    else:
        return
    if depth >= MAX_DEPTH:
        raise SerializationError(f"nested deeper than {MAX_DEPTH} levels", path=path)
    for child in children:
        _check_depth(child, depth + 1, path)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # json.loads would otherwise accept NaN, Infinity


# Built once: json.dumps/loads with options build a new encoder/decoder per call.
_JSON_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":")
)
_JSON_DECODER = json.JSONDecoder(parse_constant=_reject_constant)

DEFAULT_SERIALIZER = Serializer()
"""The serializer used when none is configured: no codec, the default size limit."""
