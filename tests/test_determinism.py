"""The registration-time determinism check, run on orchestrators defined in this very file.

The orchestrators below are never called: only their source is read. A line that must be
reported carries a comment `# expect: <call> | <key of ALTERNATIVES>`; the tests compare the
findings with those comments, so the expected line numbers are the real ones in this file.
"""

from __future__ import annotations

import asyncio
import datetime
import datetime as dt
import functools
import inspect
import os
import random
import secrets
import socket
import time
import time as t
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Generator
from datetime import date
from datetime import datetime as DateTime
from random import randint
from random import random as random_float
from time import perf_counter
from typing import Any
from urllib import request
from uuid import uuid4

import pytest

from durable._core.determinism import (
    DeterminismWarning,
    Finding,
    find_nondeterministic_calls,
    warn_if_nondeterministic,
)

Orchestrator = Generator[Any, Any, Any]
_shared_rng = random.Random(7)
_counter: Counter[str] = Counter()


def clocks(ctx: Any) -> Orchestrator:
    a = time.time()  # expect: time.time() | now
    b = t.monotonic()  # expect: t.monotonic() | now
    c = perf_counter()  # expect: perf_counter() | now
    d = datetime.datetime.now()  # expect: datetime.datetime.now() | now
    e = dt.datetime.utcnow()  # expect: dt.datetime.utcnow() | now
    f = DateTime.now(tz=datetime.UTC)  # expect: DateTime.now() | now
    g = date.today()  # expect: date.today() | now
    h = time.time_ns()  # expect: time.time_ns() | now
    yield ctx.call_activity("log", a, b, c, d, e, f, g, h)


def chance(ctx: Any) -> Orchestrator:
    a = random.random()  # expect: random.random() | random
    b = randint(1, 6)  # expect: randint() | random
    c = random.choice([a, b])  # expect: random.choice() | random
    random.shuffle([a, b])  # expect: random.shuffle() | random
    d = _shared_rng.uniform(0, 1)  # expect: _shared_rng.uniform() | random
    e = uuid.uuid4()  # expect: uuid.uuid4() | uuid
    f = uuid4()  # expect: uuid4() | uuid
    g = uuid.uuid1()  # expect: uuid.uuid1() | uuid
    h = random_float()  # expect: random_float() | random
    yield ctx.call_activity("log", c, d, e, f, g, h)


def sleeping_and_io(ctx: Any) -> Orchestrator:
    time.sleep(1)  # expect: time.sleep() | sleep
    pause = asyncio.sleep(1)  # expect: asyncio.sleep() | sleep
    with open("orders.txt") as fh:  # expect: open() | io
        fh.read()
    os.urandom(8)  # expect: os.urandom() | io
    secrets.token_hex()  # expect: secrets.token_hex() | io
    socket.create_connection(("example.com", 80))  # expect: socket.create_connection() | io
    urllib.request.urlopen("https://example.com")  # expect: urllib.request.urlopen() | io
    request.urlopen("https://example.com")  # expect: request.urlopen() | io
    yield ctx.call_activity("log", pause)


def local_imports(ctx: Any) -> Orchestrator:
    import time as clock
    from asyncio import sleep
    from datetime import date, datetime

    import requests  # type: ignore[import-untyped, unused-ignore]

    datetime.now()  # expect: datetime.now() | now
    date.today()  # expect: date.today() | now
    clock.perf_counter()  # expect: clock.perf_counter() | now
    nap = sleep(3)  # expect: sleep() | sleep
    requests.get("https://example.com")  # expect: requests.get() | io
    yield ctx.call_activity("log", nap)


def nested_helpers(ctx: Any) -> Orchestrator:
    def stamp() -> float:
        return time.time()  # expect: time.time() | now

    pick = lambda: random.random()  # expect: random.random() | random  # noqa: E731
    yield ctx.call_activity("log", stamp, pick)


stamp_lambda = lambda: time.time()  # expect: time.time() | now  # noqa: E731


def make_closure() -> Callable[..., Orchestrator]:
    helper = time.time

    def closure(ctx: Any) -> Orchestrator:
        yield ctx.call_activity("log", helper())  # a closure variable is not looked up

    return closure


def clean(ctx: Any, started: float = time.time()) -> Orchestrator:
    import json

    from .helpers import clock  # type: ignore[import-not-found]

    stamp = clock.time()  # relative imports are not followed
    payload = json.dumps({"stamp": stamp})
    one = (lambda: 1)()
    clock = time.time  # a reference, not a call
    now = yield ctx.now()
    token = ctx.new_uuid()
    roll = ctx.random()
    when = datetime.datetime(2024, 1, 1) + datetime.timedelta(days=1)
    _counter.update(["x"])
    size = len([clock, now, token, roll, when, started, payload, one])
    yield ctx.sleep(datetime.timedelta(seconds=size))


def shadowing(ctx: Any, random: Any) -> Orchestrator:
    random.random()  # the parameter, not the module
    time = ctx
    time.time()  # the local name, not the module
    yield ctx.now()


def register(fn: Callable[..., Orchestrator]) -> Callable[..., Orchestrator]:
    return fn


@register
def decorated(ctx: Any) -> Orchestrator:
    yield ctx.call_activity("log", time.time())  # expect: time.time() | now


@functools.wraps(decorated)
def wrapper(ctx: Any) -> Orchestrator:
    return (yield from decorated(ctx))


class Shop:
    def checkout(self, ctx: Any) -> Orchestrator:
        yield ctx.call_activity("charge", random.randint(1, 9))  # expect: random.randint() | random


ALTERNATIVES = {
    "now": "yield ctx.now()",
    "random": "ctx.random()",
    "uuid": "ctx.new_uuid()",
    "sleep": "yield ctx.sleep(...)",
    "io": "do I/O in an activity: yield ctx.call_activity(...)",
}


def expected(fn: Callable[..., object]) -> list[tuple[int, str, str]]:
    """(line, call, alternative) of each line marked `# expect: <call> | <key>` in fn's source."""
    lines, first = inspect.getsourcelines(fn)
    found = []
    for offset, line in enumerate(lines):
        if "# expect: " in line:
            call, _, alternative = line.split("# expect: ")[1].partition(" | ")
            key = alternative.split("  # noqa")[0].strip()
            found.append((first + offset, call, ALTERNATIVES[key]))
    return found


def found(fn: Callable[..., object]) -> list[tuple[int, str, str]]:
    findings = find_nondeterministic_calls(fn)
    assert {f.filename for f in findings} <= {__file__}
    return [(f.lineno, f.call, f.alternative) for f in findings]


@pytest.mark.parametrize(
    "fn",
    [
        clocks,
        chance,
        sleeping_and_io,
        local_imports,
        nested_helpers,
        decorated,
        Shop.checkout,
        stamp_lambda,
    ],
    ids=lambda fn: fn.__qualname__,
)
def test_findings_name_the_call_the_alternative_and_the_real_line(
    fn: Callable[..., object],
) -> None:
    assert expected(fn)  # the markers are there
    assert found(fn) == expected(fn)


def test_wrapped_functions_are_unwrapped() -> None:
    assert found(wrapper) == expected(decorated)


def test_finding_fields() -> None:
    (finding,) = find_nondeterministic_calls(decorated)
    line = expected(decorated)[0][0]
    assert finding == Finding(__file__, line, "time.time()", "yield ctx.now()")


@pytest.mark.parametrize("fn", [clean, shadowing, make_closure()], ids=lambda fn: fn.__name__)
def test_clean_orchestrators_have_no_findings(fn: Callable[..., object]) -> None:
    assert find_nondeterministic_calls(fn) == []
    warn_if_nondeterministic(fn, fn.__name__)  # filterwarnings=error: any warning fails


@pytest.mark.parametrize(
    "fn",
    [len, functools.partial(clocks), print, object()],
    ids=["builtin", "partial", "print", "object"],
)
def test_unavailable_source_gives_no_findings(fn: Any) -> None:
    assert find_nondeterministic_calls(fn) == []
    warn_if_nondeterministic(fn, "opaque")


def test_warning_names_orchestrator_call_file_line_and_alternative() -> None:
    with pytest.warns(DeterminismWarning) as record:
        warn_if_nondeterministic(clocks, "clocks")
    marks = expected(clocks)
    assert len(record) == len(marks)
    first = record[0]
    line = marks[0][0]
    assert first.filename == __file__
    assert first.lineno == line
    assert str(first.message) == (
        f"orchestrator 'clocks' calls time.time() at test_determinism.py:{line}; "
        "orchestrators must be deterministic: use yield ctx.now()"
    )


def test_io_warning_reads_as_an_instruction() -> None:
    with pytest.warns(DeterminismWarning) as record:
        warn_if_nondeterministic(sleeping_and_io, "io")
    messages = [str(w.message) for w in record]
    assert any(
        m.endswith("must be deterministic: do I/O in an activity: yield ctx.call_activity(...)")
        for m in messages
    )
    assert any(m.endswith("must be deterministic: use yield ctx.sleep(...)") for m in messages)


def test_determinism_warning_is_a_user_warning() -> None:
    assert issubclass(DeterminismWarning, UserWarning)
