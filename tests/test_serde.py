"""Tests of durable._serde: round trips, every lossy value refused by path, calls, codec, size.

Decoding under type hints has its own tests in test_convert.py.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import socket
import timeit
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable import _convert, _serde
from durable._errors import ConfigurationError, SerializationError
from durable._serde import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    MAX_DEPTH,
    Serializer,
    convert,
    return_hint,
)
from tests.serde_kit import Color, Item, Node, Pair, S, gen, roundtrip

MANY = settings(max_examples=500, deadline=None, database=None)
SOME = settings(max_examples=100, deadline=None, database=None)


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Order:
    id: UUID
    placed: datetime
    items: list[Item]
    wait: timedelta
    blob: bytes
    note: str | None = None


@dataclasses.dataclass
class Receipt:
    order_id: str
    cents: int
    when: datetime | None


@dataclasses.dataclass
class Holder:
    thing: object


class Point(pydantic.BaseModel):
    x: int
    y: float
    label: str
    at: datetime
    tags: tuple[str, ...] = ()


class Planet(enum.Enum):
    MERCURY = (3.3e23, 2.4e6)
    EARTH = (5.97e24, 6.37e6)


def expect_error(value: object, *, path: str = "value", match: str | None = None) -> Any:
    with pytest.raises(SerializationError, match=match) as info:
        S.encode(value)
    assert info.value.path == path
    return info.value


# ---------------------------------------------------------------- strategies

json_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"))
offsets = st.timedeltas(-timedelta(hours=23, minutes=59), timedelta(hours=23)).filter(
    lambda offset: abs(offset) >= timedelta(seconds=1) or not offset  # see test_odd_utc_offsets
)
zones = st.builds(timezone, offsets)
aware = st.datetimes(timezones=zones)
finite = st.floats(allow_nan=False, allow_infinity=False)
decimals = st.decimals(allow_nan=False, allow_infinity=False)
items = st.builds(Item, json_text, decimals, st.sampled_from(Color), st.lists(json_text).map(tuple))
orders = st.builds(
    Order,
    st.uuids(),
    st.datetimes() | aware,
    st.lists(items, max_size=4),
    st.timedeltas(),
    st.binary(),
    st.none() | json_text,
)

SCALARS: list[tuple[object, st.SearchStrategy[Any]]] = [
    (int, st.integers()),
    (float, finite),
    (str, json_text),
    (bool, st.booleans()),
    (None, st.none()),
    (datetime, st.datetimes()),
    (datetime, aware),
    (date, st.dates()),
    (time, st.times()),
    (time, st.times(timezones=zones)),
    (timedelta, st.timedeltas()),
    (UUID, st.uuids()),
    (Decimal, decimals),
    (bytes, st.binary()),
    (bytearray, st.binary().map(bytearray)),
    (Color, st.sampled_from(Color)),
    (Level, st.sampled_from(Level)),
    (Planet, st.sampled_from(Planet)),
    (Pair, st.builds(Pair, st.integers(), st.none() | st.sampled_from(Color))),
    (Item, items),
    (Order, orders),
]


def assert_exact(decoded: object, value: object) -> None:
    """Equal, of the same type, and for datetimes and Decimals the same offset and digits."""
    assert decoded == value
    assert type(decoded) is type(value)
    if isinstance(value, datetime | time):
        assert isinstance(decoded, datetime | time)
        assert decoded.utcoffset() == value.utcoffset()
    if isinstance(value, Decimal):
        assert str(decoded) == str(value)


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize(("hint", "strategy"), SCALARS, ids=lambda x: getattr(x, "__name__", ""))
def test_scalar_roundtrip(hint: object, strategy: st.SearchStrategy[Any]) -> None:
    @MANY
    @given(strategy)
    def check(value: object) -> None:
        assert_exact(roundtrip(value, hint), value)

    check()


@MANY
@given(st.lists(orders, max_size=3), st.dictionaries(json_text, aware | st.datetimes()))
def test_nested_roundtrip(values: list[Order], stamps: dict[str, datetime]) -> None:
    assert roundtrip(values, list[Order]) == values
    decoded = roundtrip(stamps, dict[str, datetime])
    assert decoded == stamps
    assert all(decoded[k].utcoffset() == v.utcoffset() for k, v in stamps.items())


@SOME
@given(st.lists(st.tuples(st.integers(), json_text)), st.dictionaries(json_text, st.uuids()))
def test_generic_roundtrip(pairs: list[tuple[int, str]], ids: dict[str, UUID]) -> None:
    assert roundtrip(pairs, list[tuple[int, str]]) == pairs
    assert roundtrip(tuple(pairs), tuple[tuple[int, str], ...]) == tuple(pairs)
    assert roundtrip(ids, Mapping[str, UUID]) == ids
    assert roundtrip(list(ids.values()), Sequence[UUID]) == list(ids.values())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | json_text,
    lambda inner: st.lists(inner) | st.dictionaries(json_text, inner),
)


@MANY
@given(json_values)
def test_any_roundtrip_is_json_identity(value: object) -> None:
    assert roundtrip(value) == value
    assert S.encode(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def test_timedelta_extremes_and_datetimes_keep_naivety() -> None:
    for delta in (timedelta.max, timedelta.min, timedelta(microseconds=-1), timedelta(0)):
        assert roundtrip(delta, timedelta) == delta
    naive = datetime(2024, 1, 2, 3, 4, 5, 6)
    assert roundtrip(naive, datetime).tzinfo is None
    tokyo = naive.replace(tzinfo=timezone(timedelta(hours=9)))
    assert roundtrip(tokyo, datetime).utcoffset() == timedelta(hours=9)
    assert S.encode(tokyo) == '"2024-01-02T03:04:05.000006+09:00"'


def test_odd_utc_offsets() -> None:
    odd = timezone(timedelta(hours=-5, seconds=-30, microseconds=-7))
    assert roundtrip(datetime(2024, 1, 1, tzinfo=odd), datetime).utcoffset() == odd.utcoffset(None)
    tiny = timezone(timedelta(microseconds=500))  # CPython 3.11 would read it back as UTC
    expect_error(datetime(2024, 1, 1, tzinfo=tiny), match="under a second")
    expect_error([time(1, tzinfo=tiny)], path="value[0]", match="under a second")


def test_pydantic_roundtrip() -> None:
    point = Point(x=1, y=2.5, label="p", at=datetime(2024, 1, 1, tzinfo=UTC), tags=("a",))
    assert roundtrip(point, Point) == point
    assert roundtrip([point], list[Point]) == [point]
    with pytest.raises(SerializationError, match="invalid Point") as info:
        S.decode('{"x": "not a number"}', Point, path="result")
    assert info.value.path == "result"


class Bottomless:
    """An object whose attribute lookup recurses forever (a bug in user code)."""

    def __getattribute__(self, name: str) -> Any:
        return getattr(self, name)


def test_recursion_in_user_code_is_a_serialization_error() -> None:
    bottomless = dataclasses.make_dataclass("Deep", [("x", int)], bases=(Bottomless,))
    with pytest.raises(SerializationError, match="nested deeper") as info:
        S.encode([object.__new__(bottomless)], path="arg")
    assert info.value.path == "arg"
    deep: dict[str, Any] = {"name": "leaf"}
    for _ in range(5000):  # built directly, not parsed: convert's own guard applies
        deep = {"name": "n", "children": [deep]}
    with pytest.raises(SerializationError, match="nested deeper"):
        convert(deep, Node, path="tree")


def test_pydantic_dump_errors_are_serialization_errors() -> None:
    class Opaque:
        pass

    class Box(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
        thing: Opaque

    with pytest.raises(SerializationError, match="pydantic could not dump Box") as info:
        S.encode({"box": Box(thing=Opaque())})
    assert info.value.path == "value['box']"


def test_signature_that_cannot_be_read_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="cannot read the signature"):
        S.encode_call(max, "max", [1, 2], {})


@pytest.mark.parametrize("text", ["{", "NaN", "[Infinity]", '"\\ud800', "1" * 4301, ""])
def test_malformed_json_is_a_serialization_error(text: str) -> None:
    with pytest.raises(SerializationError, match="malformed payload") as info:
        S.decode(text, path="result")
    assert info.value.path == "result"


# ---------------------------------------------------------------- encoding refusals


def test_lossy_numbers_are_refused() -> None:
    expect_error(float("nan"), match="not finite")
    expect_error([1.0, float("inf")], path="value[1]", match="not finite")
    expect_error({"a": -float("inf")}, path="value['a']")
    expect_error(Decimal("NaN"), match="not finite")
    expect_error(Decimal("-Infinity"), match="not finite")
    expect_error(Decimal("sNaN"), match="not finite")
    expect_error(10**4300, match="4,300 digits")
    item = Item("a", Decimal("1"), Color.RED)
    order = Order(UUID(int=1), datetime(2024, 1, 1), [item, item, item], timedelta(0), b"")
    order.items[2] = dataclasses.replace(item, price=Decimal("NaN"))
    with pytest.raises(SerializationError, match="Decimal NaN is not finite") as info:
        S.encode(order, path="order")
    assert info.value.path == "order.items[2].price"
    assert roundtrip(10**4299, int) == 10**4299  # 4,300 digits is still fine


def test_non_str_keys_are_refused() -> None:
    expect_error({1: 2}, path="value[1]", match="dict key 1 is a int")
    expect_error({"ok": {None: 1}}, path="value['ok'][None]")
    expect_error({(1, 2): 1}, path="value[(1, 2)]")


def test_strings_postgres_rejects_are_refused() -> None:
    expect_error("a\x00b", match="x00")
    expect_error(["ok", "\ud800"], path="value[1]", match="lone surrogate")
    expect_error({"k\x00": 1}, path="value['k\\x00']")
    assert roundtrip("emoji 😀 ‮rtl e\u0301", str) == "emoji 😀 ‮rtl e\u0301"


def test_circular_references_are_refused() -> None:
    loop: list[Any] = [1, 2]
    loop.append(loop)
    expect_error(loop, path="value[2]", match="circular reference")
    tree: dict[str, Any] = {"a": {}}
    tree["a"]["b"] = tree
    expect_error(tree, path="value['a']['b']", match="circular")
    shared = [1]
    assert roundtrip([shared, shared]) == [[1], [1]]  # shared, not circular


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [100, MAX_DEPTH])
def test_deep_nesting_within_the_limit_passes(depth: int) -> None:
    assert roundtrip(nested(depth)) == nested(depth)
    assert S.decode("[" * depth + "]" * depth) == nested(depth)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 100_000])
def test_deep_nesting_is_refused_both_ways(depth: int) -> None:
    with pytest.raises(SerializationError, match="nested deeper than 256") as info:
        S.encode(nested(depth), path="order")
    assert info.value.path.startswith("order[0][0]")
    for text in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        with pytest.raises(SerializationError, match="nested deeper") as info:
            S.decode(text, path="result")
        assert info.value.path == "result"


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        ({1, 2}, "value", "set has no JSON form; convert it to a list"),
        ({"tags": frozenset()}, "value['tags']", "convert it to a list"),
        (object(), "value", "cannot serialize object"),
        ([1, 2, lambda: 1], "value[2]", "cannot serialize function"),
        ({"g": gen()}, "value['g']", "cannot serialize generator"),
        (Holder(Holder(1j)), "value.thing.thing", "cannot serialize complex"),
        (Path("/"), "value", "supported: None, bool"),
    ],
)
def test_unsupported_values_are_refused(value: object, path: str, message: str) -> None:
    expect_error(value, path=path, match=message)


def test_open_file_and_socket_are_refused(tmp_path: Path) -> None:
    with (tmp_path / "f.txt").open("w") as handle:
        expect_error({"f": handle}, path="value['f']", match="TextIOWrapper")
    with socket.socket() as sock:
        order = {"items": [1, 2, Holder(sock)]}
        with pytest.raises(SerializationError, match="cannot serialize socket") as info:
            S.encode(order, path="order")
        assert info.value.path == "order['items'][2].thing"


# ---------------------------------------------------------------- size limit and codec


def test_payload_size_limit() -> None:
    assert S.decode(S.encode("x" * (256 * 1024))) == "x" * (256 * 1024)
    over = "x" * (DEFAULT_MAX_PAYLOAD_BYTES + 1)  # the quotes make it 2 MiB + 3 bytes
    with pytest.raises(SerializationError, match="2,097,152") as info:
        S.encode(over, path="result")
    assert "configurable" in str(info.value)
    assert info.value.path == "result"
    small = Serializer(max_payload_bytes=10)
    assert small.encode("12345678") == '"12345678"'  # exactly 10 bytes
    with pytest.raises(SerializationError, match="over the limit of 10"):
        small.encode("é" * 5)  # 12 bytes of UTF-8 in 7 characters


class ZlibCodec:
    """Compresses payloads: zlib, then base64 so that the result is text."""

    def encode(self, text: str) -> str:
        return base64.b64encode(zlib.compress(text.encode("utf-8"))).decode("ascii")

    def decode(self, text: str) -> str:
        return zlib.decompress(base64.b64decode(text)).decode("utf-8")


def test_codec_wraps_every_payload() -> None:
    zipped = Serializer(codec=ZlibCodec())
    value = {"rows": [{"id": i, "name": "same old name"} for i in range(4000)]}
    plain = S.encode(value)
    stored = zipped.encode(value)
    assert len(plain) > 100 * 1024
    assert len(stored) * 10 < len(plain)
    assert zipped.decode(stored) == value
    call = zipped.encode_call(charge, "charge", ["o-1", 5], {})
    assert zipped.decode_call(call, charge) == (["o-1", 5], {})
    with pytest.raises(SerializationError, match="malformed payload"):
        zipped.decode("not base64 zlib")


# ---------------------------------------------------------------- calls


def charge(order_id: str, cents: int, when: datetime | None = None) -> Receipt:
    return Receipt(order_id, cents, when)


def many(ctx: object, first: Item, *rest: Item, flag: bool = False, **extra: Decimal) -> None:
    pass


def test_call_roundtrip() -> None:
    when = datetime(2024, 5, 1, 12, tzinfo=UTC)
    payload = S.encode_call(charge, "charge", ["o-1"], {"cents": 500, "when": when})
    assert json.loads(payload) == {
        "args": ["o-1"],
        "kwargs": {"cents": 500, "when": "2024-05-01T12:00:00+00:00"},
    }
    assert S.decode_call(payload, charge) == (["o-1"], {"cents": 500, "when": when})
    payload = S.encode_call(charge, "charge", ["o-1", 500, when], {})
    assert S.decode_call(payload, charge) == (["o-1", 500, when], {})
    assert return_hint(charge) is Receipt
    assert S.decode(S.encode(charge("o", 1, when)), return_hint(charge)) == Receipt("o", 1, when)


def test_call_with_varargs_and_skip_first() -> None:
    item = Item("a", Decimal("1.50"), Color.GREEN)
    args = [item, item]
    kwargs = {"flag": True, "tip": Decimal("0.10")}
    payload = S.encode_call(many, "many", args, kwargs, skip_first=True)
    assert S.decode_call(payload, many, skip_first=True) == (args, kwargs)
    assert S.decode_call(payload, None) == (
        [{"sku": "a", "price": "1.50", "color": "green", "tags": []}] * 2,
        {"flag": True, "tip": "0.10"},
    )
    with pytest.raises(SerializationError) as info:
        S.encode_call(many, "many", [item, {1, 2}], {}, skip_first=True)
    assert info.value.path == "many(*rest[0])"


def test_call_errors_name_the_parameter() -> None:
    with pytest.raises(SerializationError, match="expected Decimal") as info:
        S.decode_call('{"args": [], "kwargs": {"tip": 1}}', many)
    assert info.value.path == "many(tip=...)"
    with pytest.raises(SerializationError) as info:
        S.encode_call(charge, "charge", ["o-1", 5], {"when": object()})
    assert info.value.path == "charge(when=...)"
    with pytest.raises(SerializationError) as info:
        S.encode_call(charge, "charge", [{"items": [1, 2, {3}]}, 5], {})
    assert info.value.path == "charge(order_id=...)['items'][2]"
    with pytest.raises(SerializationError) as info:
        S.encode_call(None, "charge", ["o-1", object()], {})
    assert info.value.path == "charge(args[1])"
    with pytest.raises(SerializationError, match="expected int, got str") as info:
        S.decode_call('{"args": ["o-1", "500"], "kwargs": {}}', charge)
    assert info.value.path == "charge(cents=...)"
    with pytest.raises(SerializationError, match="is a int") as info:
        S.encode_call(None, "charge", [], {1: 2})  # type: ignore[dict-item]
    assert info.value.path == "charge(**kwargs)"
    with pytest.raises(SerializationError, match=r'expected \{"args"'):
        S.decode_call("[1, 2]", charge)


@pytest.mark.parametrize(
    ("args", "kwargs"), [([], {}), (["a", 1, None, 4], {}), (["a"], {"cents": 1, "tip": 2})]
)
def test_call_that_does_not_bind_is_a_configuration_error(
    args: list[object], kwargs: dict[str, object]
) -> None:
    with pytest.raises(ConfigurationError, match=r"^charge\(\.\.\.\): "):
        S.encode_call(charge, "charge", args, kwargs)


# ---------------------------------------------------------------- re-exports


def test_decoding_names_are_re_exported() -> None:
    # Other modules import these from durable._serde; they live in durable._convert.
    for name in ("MAX_DEPTH", "convert", "hints_of", "return_hint"):
        assert getattr(_serde, name) is getattr(_convert, name)


# ---------------------------------------------------------------- speed


def test_small_values_are_cheap() -> None:
    value = {"id": "o-1", "cents": 500, "items": [1, 2, 3]}
    rounds = 2000
    best = min(timeit.repeat(lambda: S.decode(S.encode(value)), number=rounds, repeat=5))
    assert best / rounds < 100e-6  # a few microseconds on a laptop; generous for CI
