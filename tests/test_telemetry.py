"""OpenTelemetry (DESIGN 7a) in one process, with the SDK's in-memory exporter: one trace from
the client's start through every episode and attempt, each episode's span once even when every
episode replays its history, the metrics, and nothing at all without a tracer provider."""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import durable
from durable._telemetry import TELEMETRY

app = durable.App()
EXPORTER = InMemorySpanExporter()
#: the metric reader of the providers installed last
READERS: list[InMemoryMetricReader] = []


@app.activity
async def double(n: int) -> int:
    with trace.get_tracer("user").start_as_current_span("user work"):
        return 2 * n


@app.orchestrator
def chain(ctx: durable.OrchestrationContext, n: int) -> Generator[Any, Any, int]:
    for _ in range(3):
        n = yield ctx.call_activity(double, n)
    both = yield ctx.when_all([ctx.call_activity(double, n), ctx.call_activity(double, 1)])
    return int(sum(both))


def install() -> None:
    """The SDK's global providers, for one test."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(provider)
    READERS[:] = [InMemoryMetricReader()]
    metrics.set_meter_provider(MeterProvider(metric_readers=READERS))


def uninstall() -> None:
    """Back to no providers (as OpenTelemetry's own test utilities do: the API sets them once
    per process), so the other tests run without tracing."""
    from opentelemetry.metrics import _internal as metrics_internal
    from opentelemetry.util._once import Once

    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = None


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    install()
    EXPORTER.clear()
    try:
        yield EXPORTER
    finally:
        EXPORTER.clear()
        uninstall()
        assert not TELEMETRY.enabled


def by_name(found: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [span for span in found if span.name.startswith(prefix)]


async def run(url: str, cache_size: int) -> tuple[int, durable.Worker]:
    async with (
        durable.Worker(app, url, cache_size=cache_size) as worker,
        durable.Client(url, app=app) as client,
    ):
        handle = await client.start(chain, 1, instance_id=f"chain-{cache_size}")
        return await handle.result(timeout=30), worker


def check_one_trace(found: tuple[ReadableSpan, ...], instance_id: str) -> None:
    (start,) = by_name(found, "durable.start")
    assert start.name == "durable.start chain"
    assert start.attributes is not None and start.attributes["durable.instance_id"] == instance_id
    episodes = by_name(found, "durable.orchestrate")
    attempts = by_name(found, "durable.activity")
    assert {span.context.trace_id for span in found if span.context} == {start.context.trace_id}
    versions = [span.attributes["durable.version"] for span in episodes if span.attributes]
    assert len(versions) == len(set(versions)), "an episode was emitted twice"
    tasks = Counter(span.attributes["durable.task_id"] for span in attempts if span.attributes)
    assert sorted(tasks) == [0, 1, 2, 3, 4] and set(tasks.values()) == {1}
    for span in (*episodes, *attempts):  # children of the start, wherever they ran
        assert span.parent is not None and span.parent.span_id == start.context.span_id
    (user,) = by_name(found, "user work")[:1]
    assert user.parent is not None
    assert user.parent.span_id in {span.context.span_id for span in attempts}


async def test_one_trace_and_each_episode_once_even_when_every_episode_replays(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'otel.db'}"
    result, _ = await run(url, cache_size=1000)
    assert result == 18
    cached = spans.get_finished_spans()
    check_one_trace(cached, "chain-1000")
    spans.clear()
    result, worker = await run(url, cache_size=0)  # no generator kept: every episode replays
    assert result == 18
    assert worker._episodes.replays >= 3
    replayed = spans.get_finished_spans()
    check_one_trace(replayed, "chain-0")
    # the same start and attempts whether the episodes replayed or not (the episodes may be cut
    # differently: a fan-in's results recorded together or one by one)
    for found in (cached, replayed):
        names = Counter(span.name for span in found if not span.name.startswith("durable.orch"))
        assert names == {"durable.start chain": 1, "durable.activity double": 5, "user work": 5}


def test_metrics_count_steps_and_time_them(spans: InMemorySpanExporter) -> None:
    TELEMETRY.lease_expired(2)
    TELEMETRY.queue_depth("default", 7)
    TELEMETRY.episode("m", "m-1", 0, None, 1)
    data = READERS[0].get_metrics_data()
    assert data is not None
    names = {
        metric.name
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert {"durable.steps", "durable.episode.duration", "durable.lease.expired"} <= names
    assert "durable.queue.depth" in names


async def test_without_a_tracer_provider_nothing_is_looked_up_or_emitted(tmp_path: Path) -> None:
    assert not TELEMETRY.enabled
    assert TELEMETRY.started("x", "chain") is None
    url = f"sqlite:///{tmp_path / 'off.db'}"
    looked_up: list[str] = []
    async with durable.Worker(app, url) as worker, durable.Client(url, app=app) as client:
        store = worker.store
        original = store.get_trace_context

        async def spy(instance_id: str) -> str | None:
            looked_up.append(instance_id)
            return await original(instance_id)

        store.get_trace_context = spy  # type: ignore[method-assign]
        assert await (await client.start(chain, 1)).result(timeout=30) == 18
    assert looked_up == []


gate = anyio.Event()


@app.activity
async def held(n: int) -> int:
    await gate.wait()
    return n


@app.orchestrator
def fan(ctx: durable.OrchestrationContext, width: int) -> Generator[Any, Any, int]:
    values = yield ctx.when_all([ctx.call_activity(held, i) for i in range(width)])
    return int(sum(values))


def depth_points(reader: InMemoryMetricReader) -> list[int]:
    data = reader.get_metrics_data()
    if data is None:
        return []
    return [
        int(point.value)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "durable.queue.depth"
        for point in metric.data.data_points
        if point.attributes.get("durable.queue") == "default"
    ]


async def test_a_worker_reports_the_depth_of_its_queues(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    # one attempt at a time: the other four wait in the queue, and the gauge says so
    assert TELEMETRY.measuring
    global gate
    gate = anyio.Event()
    url = f"sqlite:///{tmp_path / 'depth.db'}"
    async with (
        durable.Client(url, app=app) as client,
        durable.Worker(app, url, max_concurrent_activities=1, poll_interval=0.05),
    ):
        handle = await client.start(fan, 5)
        with anyio.fail_after(30):
            while not any(depth >= 3 for depth in depth_points(READERS[0])):
                await anyio.sleep(0.05)
        gate.set()
        assert await handle.result(timeout=30) == 10
