"""The shortcuts of the hot path (issue 21) keep the behaviour of the long way round.

* ``Serializer.encode_call`` skips ``Signature.bind`` for a plain positional call; every call
  that would not bind still raises ``ConfigurationError`` naming the function;
* a SQLite write that runs alone in its transaction has no savepoint: when it fails, nothing it
  wrote is kept, and the next write commits as usual;
* (a commit plan that counts its leased activities as it plans them still leases at most
  ``eager_limit``: tests/test_commit_plan.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from durable import ConfigurationError
from durable._serde import DEFAULT_SERIALIZER
from durable.stores.sqlite.db import Database
from durable.stores.sqlite.rows import Tx


def two(a: int, b: int = 0) -> int:
    return a + b


def starred(a: int, *rest: int) -> int:
    return a


def keyword_needed(a: int, *, key: str) -> int:
    return a


@pytest.mark.parametrize(
    ("fn", "args", "kwargs"),
    [
        (two, (), {}),  # too few
        (two, (1, 2, 3), {}),  # too many
        (two, (1,), {"c": 1}),  # unknown keyword
        (two, (1,), {"a": 1}),  # twice
        (keyword_needed, (1,), {}),  # a required keyword-only parameter left out
        (starred, (), {}),
    ],
)
def test_a_call_that_does_not_bind_still_raises(
    fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ConfigurationError, match=fn.__name__):
        DEFAULT_SERIALIZER.encode_call(fn, fn.__name__, args, kwargs)


@pytest.mark.parametrize(
    ("fn", "args", "kwargs"),
    [
        (two, (1,), {}),
        (two, (1, 2), {}),
        (two, (1,), {"b": 2}),
        (starred, (1, 2, 3, 4), {}),
        (keyword_needed, (1,), {"key": "k"}),
    ],
)
def test_a_call_that_binds_is_encoded(
    fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    payload = DEFAULT_SERIALIZER.encode_call(fn, fn.__name__, args, kwargs)
    assert DEFAULT_SERIALIZER.decode_call(payload, fn) == (list(args), kwargs)


async def test_a_lone_write_that_fails_keeps_nothing(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "lone.db"), "test", synchronous="FULL", busy_timeout=1.0)
    await db.connect()
    try:
        await db.read(lambda conn, now: conn.execute("CREATE TABLE t (v TEXT)"), "create")

        def failing(tx: Tx) -> None:
            tx.execute("INSERT INTO t (v) VALUES ('kept?')")
            raise ValueError("refused")

        with pytest.raises(ValueError, match="refused"):
            await db.write(failing, "failing")
        await db.write(lambda tx: tx.execute("INSERT INTO t (v) VALUES ('next')"), "next")
        rows = await db.read(lambda conn, now: conn.execute("SELECT v FROM t").fetchall(), "r")
        assert [tuple(row) for row in rows] == [("next",)]
    finally:
        await db.close()
