"""JSON payloads: encoding, the payload codec hook, and the Serializer.

Payloads are untagged JSON: they never name a Python type, so decoding one can neither import
nor execute anything (no object serialization, no ``{"py/object": ...}``). Types come back only
from the type hints of the receiving function: its parameters, or the return annotation of the
function that produced a result (decoding under hints is ``_convert``'s; ``convert``,
``hints_of`` and ``return_hint`` are re-exported here).

Encoding walks a value once, building a JSON-ready structure and refusing on the way whatever JSON
cannot carry faithfully, with the path to the culprit: attributes after a dot, dict keys and list
indexes in brackets (``order.items[2]``, ``result['k']``).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol
from uuid import UUID

# Re-exported (`X as X`): other modules import MAX_DEPTH, convert, hints_of, return_hint from here.
from durable._convert import MAX_DEPTH as MAX_DEPTH
from durable._convert import _Fail, _field_names, _got, _is_pydantic_model, _short
from durable._convert import convert as convert
from durable._convert import hints_of as hints_of
from durable._convert import return_hint as return_hint
from durable._errors import ConfigurationError, SerializationError

DEFAULT_MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
"""The default limit on the UTF-8 size of one payload's JSON text (as Temporal's)."""

SUPPORTED = (
    "None, bool, int, float, str, list, tuple, dict with str keys, datetime, date, time, "
    "timedelta, UUID, Decimal, bytes, Enum, dataclasses and pydantic models"
)
"""What encoding accepts, as error messages list it."""
_INT_LIMIT = 10**4300  # CPython refuses to print or parse ints of more than 4,300 digits
_MICROSECOND, _SECOND = timedelta(microseconds=1), timedelta(seconds=1)
_Encoder = Callable[[Any, set[int]], Any]


class PayloadCodec(Protocol):
    """Wraps every payload after JSON encoding (compression, encryption at rest)."""

    def encode(self, text: str) -> str:
        """Turn JSON text into the text that is stored."""
        ...

    def decode(self, text: str) -> str:
        """Turn stored text back into the JSON text ``encode`` was given."""
        ...


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


# ---------------------------------------------------------------- call shapes


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


@functools.lru_cache(maxsize=4096)
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

    An app uses one for everything it records: ``durable.App(serializer=durable.Serializer(
    max_payload_bytes=8 * 1024 * 1024))`` raises the payload limit, ``codec=`` compresses or
    encrypts payloads. Give its workers and clients the same app (``Client(url, app=app)``), or
    the same serializer (``Client(url, serializer=...)``).

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
                _ready(key, shape.label, name, "**", walk=_enc_key): _ready(
                    arg, shape.label, name, key
                )
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
                    "(configurable: App(serializer=durable.Serializer(max_payload_bytes=...)))",
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


def _ready(value: object, label: Callable[..., str], *parts: object, walk: _Encoder = _walk) -> Any:
    """The JSON-ready form of value; errors name the path ``label(*parts)`` (built only then)."""
    try:
        return walk(value, set())
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
