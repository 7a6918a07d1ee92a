"""Tests of durable._convert: decoding under type hints, mismatches by path, hints of functions."""

from __future__ import annotations

import dataclasses
import json
import sys
import typing
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NewType, Optional, TypedDict, Union
from uuid import UUID

import pytest

from durable._convert import convert, hints_of, return_hint
from durable._errors import SerializationError
from tests.serde_kit import Color, Item, Node, Pair, S, gen, roundtrip


class Movie(TypedDict):
    title: str
    year: int


UserId = NewType("UserId", str)


def test_hints_of_every_kind() -> None:
    assert roundtrip([1, None], list[Optional[int]]) == [1, None]  # noqa: UP045
    assert roundtrip(3, Union[str, int]) == 3  # noqa: UP007
    assert roundtrip("a", Literal["a", "b"]) == "a"
    assert roundtrip("red", Literal[Color.RED]) is Color.RED
    assert roundtrip(("a", 1), tuple) == ("a", 1)
    assert roundtrip([1, "a"], list) == [1, "a"]
    assert roundtrip({"a": 1}, dict) == {"a": 1}
    assert roundtrip({Color.RED: 1}, dict[Color, int]) == {Color.RED: 1}
    assert roundtrip("u-1", UserId) == "u-1"
    assert roundtrip({"title": "Heat", "year": 1995}, Movie) == {"title": "Heat", "year": 1995}
    assert roundtrip(2, float) == 2.0
    assert roundtrip(1, typing.Annotated[int, "meta"]) == 1
    tree = Node("a", [Node("b"), Node("c", [Node("d")])])
    assert roundtrip(tree, Node) == tree
    path = Path("/tmp")
    assert convert(path, Path) is path  # unknown hint: an instance passes unchanged


def test_union_members_are_tried_in_order() -> None:
    uid = "12345678-1234-5678-1234-567812345678"
    assert roundtrip(uid, str | UUID) == uid
    assert roundtrip(uid, UUID | str) == UUID(uid)
    assert type(roundtrip(1, int | float)) is int
    assert type(roundtrip(1, float | int)) is float


@dataclasses.dataclass(frozen=True)
class Span:
    start: int
    end: int
    length: int = dataclasses.field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("end before start")
        object.__setattr__(self, "length", self.end - self.start)


@dataclasses.dataclass
class Vague:
    known: int
    unknown: NotDefinedAnywhere  # type: ignore[name-defined]  # noqa: F821


def test_dataclass_construction() -> None:
    span = Span(1, 4)
    assert S.encode(span) == '{"start":1,"end":4,"length":3}'
    assert roundtrip(span, Span) == span
    assert S.decode('{"start": 1, "end": 4, "length": 7}', Span).length == 7  # as stored
    with pytest.raises(SerializationError, match="end before start") as info:
        S.decode('{"start": 5, "end": 4}', Span, path="span")
    assert info.value.path == "span"
    assert isinstance(info.value.__cause__, ValueError)
    assert S.decode('{"known": 1, "unknown": [1]}', Vague) == Vague(1, [1])


def test_converters_are_cached_by_identity_and_bounded() -> None:
    for _ in range(5000):  # a fresh list[int] each time: the cache must not grow without end
        assert S.decode("[1]", list[int]) == [1]
    assert S.decode("1", typing.Annotated[int, {"unhashable": []}]) == 1
    assert S.decode("[1, 2]", list[Any]) == [1, 2]
    assert S.decode('{"a": [1]}', dict[str, Any]) == {"a": [1]}
    assert S.decode("[1, 2]", typing.Tuple) == (1, 2)  # noqa: UP006
    assert S.decode("null", int | str | None) is None
    assert S.decode("null", None) is None


# ---------------------------------------------------------------- decoding mismatches


@pytest.mark.parametrize(
    ("payload", "hint", "path", "message"),
    [
        ('[1, 2, "x"]', list[int], "result[2]", r"expected int, got str \('x'\)"),
        ("true", int, "result", "expected int, got bool"),
        ("1", bool, "result", "expected bool, got int"),
        ("1.5", int, "result", "expected int, got float"),
        ('{"k": 1}', dict[str, str], "result['k']", "expected str, got int"),
        ('"nope"', datetime, "result", "invalid datetime 'nope'"),
        ('"2024-01-01T00:00:00"', date, "result", "invalid date"),
        ('"NaN"', Decimal, "result", "invalid Decimal"),
        ('"!!"', bytes, "result", "invalid bytes"),
        ('"zz"', UUID, "result", "invalid UUID"),
        ('"blue"', Color, "result", "'blue' is not a value of Color"),
        ("[1, 2, 3]", tuple[int, int], "result", "expected tuple"),
        ('"c"', Literal["a", "b"], "result", "expected Literal"),
        ("[1]", set[int], "result", "expected set"),
        ('["a"]', int | None, "result", "expected int, got list"),
        ("1.5", int | str, "result", "expected int | str, got float"),
        ('{"title": "x"}', Movie, "result", "missing required field.*year"),
        ('{"sku": "a", "price": "1", "color": "red", "x": 1}', Item, "result.x", "no field"),
        ('{"sku": "a", "price": "1"}', Item, "result", "missing required field.*color"),
        ('{"sku": "a", "price": 1, "color": "red"}', Item, "result.price", "expected Decimal"),
        ('{"x": 1}', Node, "result.x", "Node has no field 'x'"),
        ('{"name": "a", "children": [{"name": 1}]}', Node, "result.children[0].name", "int"),
        ("[]", Node, "result", r"expected Node \(a JSON object\), got list"),
        ('"x"', float, "result", "expected float, got str"),
        ("0", None, "result", "expected None, got int"),
        ('{"a": 1}', list[int], "result", "expected list"),
        ("[1]", dict[str, int], "result", "expected dict"),
        ("[1, 2]", tuple[int, str], "result[1]", "expected str, got int"),
        ("[1, 2, 3]", Pair, "result", "expected Pair, got list"),
        ('[1, "blue"]', Pair, "result[1]", "'blue' is not a value of Color"),
        ("1" + "0" * 400, float, "result", "too large for a float"),
        ("1", "Unresolved", "result", "unsupported type hint 'Unresolved'"),
    ],
)
def test_decode_mismatch_names_the_path(
    payload: str, hint: object, path: str, message: str
) -> None:
    with pytest.raises(SerializationError, match=message) as info:
        S.decode(payload, hint, path="result")
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}: ")


# ---------------------------------------------------------------- hints of functions


def test_hints_fall_back_to_any_for_unresolvable_names() -> None:
    def activity(a: int, b: NotDefinedAnywhere) -> str:  # type: ignore[name-defined]  # noqa: F821
        return ""

    assert hints_of(activity) == {"a": int, "b": Any, "return": str}
    assert return_hint(activity) is str
    assert return_hint(None) is Any
    assert return_hint(gen) == Iterator[int]
    assert hints_of(activity) is hints_of(activity)  # cached


# ---------------------------------------------------------------- security (S1)


@pytest.mark.parametrize(
    "payload",
    [
        '{"py/object": "os.system", "py/reduce": [{"py/function": "os.system"}, ["touch x"]]}',
        '{"__class__": "subprocess.Popen", "args": ["touch", "x"]}',
        '{"$type": "System.Diagnostics.Process", "sku": "a"}',
        '{"sku": "a", "price": "1", "color": "subprocess.Popen"}',
    ],
)
def test_type_names_in_payloads_are_plain_data(payload: str) -> None:
    modules = set(sys.modules)
    assert S.decode(payload) == json.loads(payload)
    with pytest.raises(SerializationError):
        S.decode(payload, Item)
    assert set(sys.modules) == modules  # nothing was imported
