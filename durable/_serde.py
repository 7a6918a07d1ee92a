"""JSON payloads: the payload codec hook, call payloads, and the Serializer.

Payloads are untagged JSON: they never name a Python type, so decoding one can neither import
nor execute anything (no object serialization, no ``{"py/object": ...}``). Types come back only
from the type hints of the receiving function: its parameters, or the return annotation of the
function that produced a result (decoding under hints is ``_convert``'s; ``convert``,
``hints_of``, ``return_hint`` and ``MAX_DEPTH`` are re-exported here).

Encoding (``_encoders``) walks a value once, building a JSON-ready structure and refusing on the
way whatever JSON cannot carry faithfully, with the path to the culprit: attributes after a dot,
dict keys and list indexes in brackets (``order.items[2]``, ``result['k']``).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

# Re-exported (`X as X`): other modules import MAX_DEPTH, convert, hints_of, return_hint from here.
from durable._convert import MAX_DEPTH as MAX_DEPTH
from durable._convert import convert as convert
from durable._convert import hints_of as hints_of
from durable._convert import return_hint as return_hint
from durable._encoders import SUPPORTED as SUPPORTED
from durable._encoders import _enc_key, _ready
from durable._errors import ConfigurationError, SerializationError
from durable._value_paths import _got

DEFAULT_MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
"""The default limit on the UTF-8 size of one payload's JSON text (as Temporal's)."""


class PayloadCodec(Protocol):
    """Wraps every payload after JSON encoding (compression, encryption at rest)."""

    def encode(self, text: str) -> str:
        """Turn JSON text into the text that is stored."""
        ...

    def decode(self, text: str) -> str:
        """Turn stored text back into the JSON text ``encode`` was given."""
        ...


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
    #: positional argument counts that bind with no keywords (min, max), or None when a
    #: keyword-only parameter is required: a call in that range needs no ``Signature.bind``
    positional_only_call: tuple[int, float] | None = None

    def binds_plainly(self, args: Sequence[object], kwargs: Mapping[str, object]) -> bool:
        """True when ``signature.bind(*args, **kwargs)`` is known to succeed without running
        it (positional arguments only, as many as the signature takes): the common call, and
        the one an orchestrator's replay repeats at every step."""
        counts = self.positional_only_call
        return not kwargs and counts is not None and counts[0] <= len(args) <= counts[1]

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
    positional = [p for p in params if p.kind <= p.POSITIONAL_OR_KEYWORD]
    required = sum(1 for p in positional if p.default is p.empty)
    most = math.inf if _has_kind(params, inspect.Parameter.VAR_POSITIONAL) else len(positional)
    keyword_required = any(p.kind is p.KEYWORD_ONLY and p.default is p.empty for p in params)
    return _CallShape(
        signature.replace(parameters=params),
        positional=tuple(n for n, k in kinds.items() if k <= k.POSITIONAL_OR_KEYWORD),
        var_positional=by_kind.get(inspect.Parameter.VAR_POSITIONAL),
        keywords=frozenset(
            n for n, k in kinds.items() if k in (k.POSITIONAL_OR_KEYWORD, k.KEYWORD_ONLY)
        ),
        var_keyword=by_kind.get(inspect.Parameter.VAR_KEYWORD),
        hints=hints_of(fn),
        positional_only_call=None if keyword_required else (required, most),
    )


def _has_kind(params: list[inspect.Parameter], kind: inspect._ParameterKind) -> bool:
    return any(param.kind is kind for param in params)


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
        if shape.signature is not None and not shape.binds_plainly(args, kwargs):
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
