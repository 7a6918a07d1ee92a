"""Values and helpers shared by test_serde (encoding, Serializer) and test_convert (decoding)."""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from durable._serde import DEFAULT_SERIALIZER

S = DEFAULT_SERIALIZER


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclasses.dataclass(frozen=True)
class Item:
    sku: str
    price: Decimal
    color: Color
    tags: tuple[str, ...] = ()


@dataclasses.dataclass
class Node:
    name: str
    children: list[Node] = dataclasses.field(default_factory=list)


class Pair(typing.NamedTuple):
    left: int
    right: Color | None = None


def roundtrip(value: object, hint: object = Any) -> Any:
    return S.decode(S.encode(value), hint)


def gen() -> Iterator[int]:
    yield 1
