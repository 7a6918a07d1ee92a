"""W10 of WORKLOADS.md, the dashboard part: the page of an instance with a 10,000-event history.
Run it with ``python -m benchmarks.dashboard_page`` (needs Debian's Chromium, as the browser
tests do: ``make chromium``).

Two histories of about 10,000 events on SQLite: a chain (5,000 activities one after another)
and a fan-out (5,000 activities at once). For each, ``durable dashboard`` runs in a process of
its own and headless Chromium loads the instance's page: the figure is the time from the start
of the navigation to the first frame after the page has drawn its header, graph and timeline
(every timeline row in the DOM), median of ``LOADS`` loads, and the JSON API's share of it
(``/api/instances/{id}`` and ``/flow`` fetched alone). The bound (issue 18): under 1 s.

``DURABLE_BENCH_QUICK=1`` loads each page 3 times instead of 7.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx

import durable

from .chromium import CHROMIUM, FLAGS

QUICK = os.environ.get("DURABLE_BENCH_QUICK", "") not in ("", "0")
LOADS = 3 if QUICK else 7
ACTIVITIES = 5_000

app = durable.App()


@app.activity
async def step(n: int) -> int:
    return n + 1


@app.orchestrator
def chain(ctx: durable.OrchestrationContext, count: int) -> Generator[Any, Any, int]:
    n = 0
    for _ in range(count):
        n = yield ctx.call_activity(step, n)
    return int(n)


@app.orchestrator
def fan_out(ctx: durable.OrchestrationContext, count: int) -> Generator[Any, Any, int]:
    results = yield ctx.when_all([ctx.call_activity(step, n) for n in range(count)])
    return int(sum(results))


async def record(url: str) -> dict[str, int]:
    """Run both instances to their end; their history lengths."""
    sizes = {}
    async with durable.Worker(app, url), durable.Client(url, app=app) as client:
        for fn in (chain, fan_out):
            handle = await client.start(fn, ACTIVITIES, instance_id=fn.name)
            await handle.result(timeout=600)
            sizes[fn.name] = len(await handle.history())
    return sizes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def until_up(base: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(600):
            try:
                if (await http.get(base + "/api/info")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("durable dashboard did not start")


async def api_ms(base: str, instance_id: str) -> float:
    async with httpx.AsyncClient(base_url=base) as http:
        times = []
        for _ in range(LOADS):
            began = time.perf_counter()
            for path in (f"/api/instances/{instance_id}", f"/api/instances/{instance_id}/flow"):
                (await http.get(path)).raise_for_status()
            times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


async def page_ms(base: str, instance_id: str) -> tuple[float, int]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        times, rows = [], 0
        for _ in range(LOADS + 1):  # the first load warms the browser's cache of the script
            await page.goto(f"{base}/instances/{instance_id}")
            await page.wait_for_selector("main[data-ready=instance]", timeout=60_000)
            drawn = await page.evaluate(
                "new Promise(r => requestAnimationFrame(() => r(performance.now())))"
            )
            rows = await page.locator(".timeline .tr:not(.th)").count()
            times.append(drawn)
        await browser.close()
    return statistics.median(times[1:]), rows


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'page.db'}"
        began = time.perf_counter()
        sizes = await record(url)
        print(f"recorded in {time.perf_counter() - began:.1f} s: {sizes}", file=sys.stderr)
        port = free_port()
        command = [sys.executable, "-m", "durable", "dashboard", "--store", url, "--port"]
        server = subprocess.Popen([*command, str(port)])
        base = f"http://127.0.0.1:{port}"
        try:
            await until_up(base)
            print("| history | events | page (ms, median) | of which the API (ms) | rows |")
            print("| --- | --- | --- | --- | --- |")
            for name, events in sizes.items():
                page, rows = await page_ms(base, name)
                api = await api_ms(base, name)
                print(f"| {name} | {events:,} | {page:.0f} | {api:.0f} | {rows:,} |")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
