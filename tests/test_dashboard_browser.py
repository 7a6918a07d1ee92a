"""The dashboard end to end in headless Chromium (Debian's, driven by Playwright): the instances
page, a filter by status, an instance's graph and timeline, and terminate with its confirm step.
Each page's screenshot goes to docs/img/ (the docs show them) when missing, or with
``DURABLE_SCREENSHOTS=1``.

Chromium that cannot start fails these tests (never a skip): ``make test`` installs it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

import durable
from benchmarks.chromium import CHROMIUM, FLAGS

from .test_dashboard_flow import BAD_ORDER, ORDER, app, approval, checkout

pytestmark = pytest.mark.timeout(120)
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "img"
WAIT_MS = 20_000
expect.set_options(timeout=WAIT_MS)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``durable dashboard`` in a process of its own on a fresh SQLite store: (url, store)."""
    store = f"sqlite:///{tmp_path / 'shop.db'}"
    port = free_port()
    command = [sys.executable, "-m", "durable", "dashboard", "--store", store, "--port", str(port)]
    log = (tmp_path / "dashboard.log").open("w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        with anyio.from_thread.start_blocking_portal() as portal:
            portal.call(_until_up, url, server)
        yield url, store
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


async def _until_up(url: str, server: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as http:
        with anyio.fail_after(30):
            while True:
                assert server.poll() is None, "durable dashboard exited"
                try:
                    if (await http.get(url + "/api/info")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await anyio.sleep(0.05)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        try:
            launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        except Exception as exc:  # the test fails, never skips, without a browser
            pytest.fail(f"Chromium at {CHROMIUM} could not start ({exc}); run `make chromium`")
        try:
            yield launched
        finally:
            await launched.close()


async def shot(page: Page, name: str) -> None:
    """Take the page's screenshot (which proves it renders); it replaces the one the docs show
    only when that is missing or ``DURABLE_SCREENSHOTS=1`` (times and paths differ on every
    run, and a test run should leave the checkout as it found it)."""
    image = await page.screenshot(full_page=True)
    assert image.startswith(b"\x89PNG")
    target = SHOTS / f"{name}.png"
    if os.environ.get("DURABLE_SCREENSHOTS") == "1" or not target.exists():
        SHOTS.mkdir(parents=True, exist_ok=True)
        target.write_bytes(image)


async def test_filter_open_see_the_graph_and_terminate(
    dashboard: tuple[str, str], browser: Browser
) -> None:
    url, store = dashboard
    async with durable.Worker(app, store) as worker, durable.Client(store, app=app) as client:
        for order in (ORDER, BAD_ORDER):
            await client.start(checkout, order, instance_id=order["id"])
        approve = await client.start(approval, "o-3", instance_id="o-3")
        with anyio.fail_after(30):
            while (await client.get("o-2").status()).status != durable.Status.FAILED:
                await anyio.sleep(0.02)
            await client.get("o-1").result()
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(WAIT_MS)
        errors: list[Any] = []
        page.on("pageerror", lambda error: errors.append(error))

        await page.goto(url + "/")
        rows = page.locator("#instances tbody tr[data-id]")
        await expect(rows).to_have_count(4)
        await shot(page, "dashboard-instances")

        await page.locator(".count[data-status=RUNNING]").click()
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-id", "o-3")
        await page.select_option("select[name=status]", "")
        await page.fill("input[name=q]", "o-1")
        await page.click("#filters button[type=submit]")
        await expect(rows).to_have_count(1)

        await page.click("a[href='/instances/o-1']")
        graph = page.locator("#graph")
        await expect(graph.locator(".row.fan .node")).to_have_count(3)  # the fan-out
        await expect(graph.locator(".node.sub .node")).to_have_count(1)  # ship, nested
        await expect(page.locator(".timeline .tr:not(.th)")).not_to_have_count(0)
        await expect(page.locator("h1 .badge")).to_have_text("COMPLETED")
        await shot(page, "dashboard-instance")

        await page.goto(url + "/instances/o-2")
        await expect(page.locator(".node.failed")).to_have_count(1)  # charge, after 2 attempts
        await expect(page.locator("p.error").first).to_contain_text("cannot charge -5 cents")
        await shot(page, "dashboard-failed")

        await page.goto(url + "/instances/o-3")
        await expect(page.locator("h1 .badge")).to_have_text("RUNNING")
        await page.click("button[data-action=terminate]")
        dialog = page.locator("dialog#confirm")
        await expect(dialog).to_be_visible()
        await page.fill("dialog input[name=reason]", "ordered by mistake")
        await shot(page, "dashboard-confirm")
        await page.click("#confirm-yes")
        await expect(page.locator("h1 .badge")).to_have_text("TERMINATED")
        assert (await approve.status()).status == durable.Status.TERMINATED

        await page.goto(url + "/workers")
        await expect(page.locator("#workers tbody tr")).to_have_count(1)
        await expect(page.locator("#workers tbody td").first).to_have_text(worker.worker_id)
        await shot(page, "dashboard-workers")
        assert errors == []
