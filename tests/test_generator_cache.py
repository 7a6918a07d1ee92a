"""The worker's LRU of live orchestrations: bounded, and never hands out a stale generator."""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

import durable
from durable import _events as ev
from durable._core.interpreter import Orchestration
from durable._worker.generator_cache import GeneratorCache

app = durable.App()
closed: list[str] = []


@app.orchestrator
def waits(ctx: durable.OrchestrationContext) -> Generator[Any, Any, None]:
    try:
        yield ctx.wait_for_event("go")
    finally:
        closed.append(ctx.instance_id)


def running(instance_id: str) -> Orchestration:
    orchestration = Orchestration(app, instance_id)
    start = ev.ExecutionStarted(name="waits", input='{"args":[],"kwargs":{}}')
    orchestration.apply([start], datetime(2026, 1, 1, tzinfo=UTC))
    return orchestration


def test_least_recently_used_is_evicted_and_closed() -> None:
    closed.clear()
    cache = GeneratorCache(2)
    for name in ("a", "b", "c"):
        cache.put(1, running(name))
    assert len(cache) == 2 and closed == ["a"]
    assert cache.take("a", 1, 1) is None
    assert cache.take("c", 1, 1) is not None


def test_a_stale_entry_is_closed_not_returned() -> None:
    closed.clear()
    cache = GeneratorCache(10)
    cache.put(1, running("x"))
    assert cache.take("x", 1, version=5) is None  # another worker moved the history on
    assert closed == ["x"] and len(cache) == 0
    cache.put(1, running("y"))
    assert cache.take("y", 2, version=1) is None  # a later run (continue-as-new)
    cache.put(1, running("z"))
    cache.forget("z")
    cache.clear()
    assert closed == ["x", "y", "z"]


def test_size_zero_keeps_nothing() -> None:
    closed.clear()
    cache = GeneratorCache(0)
    cache.put(1, running("n"))
    assert len(cache) == 0 and closed == ["n"]
