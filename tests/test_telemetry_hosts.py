"""One trace across hosts (DESIGN 7a): a client in this process, the episodes in a worker
process that serves only the orchestrator, the attempts in a second one that serves only the
activity. Each process exports its spans with the OpenTelemetry SDK (the worker processes to a
file, one JSON line per span); the test reads them back.

Run as ``python -m tests.test_telemetry_hosts ROLE STORE_URL SPANS_FILE`` for a worker process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import durable

from .test_telemetry import EXPORTER, by_name, install, uninstall

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(90)

orchestrators = durable.App()
activities = durable.App()


@orchestrators.orchestrator
def relay(ctx: durable.OrchestrationContext, n: int) -> Generator[Any, Any, int]:
    n = yield ctx.call_activity(hop, n)
    n = yield ctx.call_activity(hop, n)
    return int(n)


# registered with both apps, on a queue that only the activities' process serves
@orchestrators.activity(queue="hops")
@activities.activity(queue="hops")
async def hop(n: int) -> int:
    return n + 1


QUEUES = {"orchestrators": ("default",), "activities": ("hops",)}


def spans_in(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    install()
    EXPORTER.clear()
    try:
        yield EXPORTER
    finally:
        EXPORTER.clear()
        uninstall()


async def test_one_trace_links_the_client_and_two_worker_processes(
    tmp_path: Path, exported: InMemorySpanExporter
) -> None:
    url = f"sqlite:///{tmp_path / 'hosts.db'}"
    files = {role: tmp_path / f"{role}.jsonl" for role in ("orchestrators", "activities")}
    command = [sys.executable, "-m", "tests.test_telemetry_hosts"]
    workers = [
        subprocess.Popen([*command, role, url, str(path)], cwd=ROOT) for role, path in files.items()
    ]
    try:
        async with durable.Client(url) as client:
            with anyio.fail_after(30):
                while len(await client.workers()) < 2:
                    await anyio.sleep(0.05)
            handle = await client.start("relay", 1, instance_id="relay-1")
            assert await handle.result(timeout=30) == 3
        with anyio.fail_after(30):  # the last episode's span follows its commit
            while len(spans_in(files["orchestrators"])) < 3:
                await anyio.sleep(0.05)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
    (start,) = by_name(exported.get_finished_spans(), "durable.start")
    trace_id, start_id = f"{start.context.trace_id:032x}", f"{start.context.span_id:016x}"
    episodes, attempts = spans_in(files["orchestrators"]), spans_in(files["activities"])
    assert [span["name"] for span in episodes] == ["durable.orchestrate relay"] * 3
    assert [span["name"] for span in attempts] == ["durable.activity hop"] * 2
    check(episodes + attempts, trace_id, start_id)
    assert sorted(span["attributes"]["durable.version"] for span in episodes) == sorted(
        {span["attributes"]["durable.version"] for span in episodes}
    )
    assert [span["attributes"]["durable.attempt"] for span in attempts] == [1, 1]


def check(spans: Sequence[dict[str, Any]], trace_id: str, parent_id: str) -> None:
    for span in spans:
        assert span["trace_id"] == trace_id, span
        assert span["parent_id"] == parent_id, span
        assert span["attributes"]["durable.instance_id"] == "relay-1"


# -- a worker process -----------------------------------------------------------------------------


def _serve(role: str, url: str, out: str) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class FileExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            with open(out, "a") as file:
                for span in spans:
                    assert span.context is not None
                    line = {
                        "name": span.name,
                        "trace_id": f"{span.context.trace_id:032x}",
                        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
                        "attributes": dict(span.attributes or {}),
                    }
                    file.write(json.dumps(line) + "\n")
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(FileExporter()))
    trace.set_tracer_provider(provider)
    app = orchestrators if role == "orchestrators" else activities

    async def main() -> None:
        async with durable.Worker(app, url, queues=QUEUES[role]):
            await anyio.sleep_forever()

    anyio.run(main)


if __name__ == "__main__":
    _serve(*sys.argv[1:4])
