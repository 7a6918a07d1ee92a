"""Workers announce themselves (DESIGN 7): ``client.workers()``, ``durable workers``, the
dashboard's ``/api/workers``; a PENDING instance that no live worker serves says so in its
status, and ``durable start`` prints that warning (a misspelt name is never a silent wait)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import anyio
import pytest

import durable
from durable._worker.announce import announcing, unserved
from durable.stores import open_store
from durable.stores.base import ClaimSpec

from .test_cli import acli
from .test_dashboard_flow import app, checkout

pytestmark = pytest.mark.timeout(60)


async def test_a_running_worker_is_listed_with_what_it_serves_and_gone_when_it_stops(
    store_url: str,
) -> None:
    async with durable.Client(store_url, app=app) as client:
        assert await client.workers() == []
        async with durable.Worker(app, store_url, queues=("default", "gpu")) as worker:
            (listed,) = await client.workers()
            assert listed.worker_id == worker.worker_id
            assert (listed.host, listed.pid) == (socket.gethostname(), os.getpid())
            assert listed.queues == ("default", "gpu")
            assert listed.orchestrators == ("approval", "checkout", "ship")
            assert listed.activities == ("charge", "reserve")
            assert listed.started_at is not None and listed.last_seen_at is not None
        assert await client.workers() == []


async def test_a_worker_renews_its_announcement(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'renew.db'}")
    await store.open()
    try:
        async with anyio.create_task_group() as group:
            await group.start(announcing, store, ClaimSpec("w-1", 30.0), 0.01)
            (first,) = await store.list_workers()
            with anyio.fail_after(10):
                while (await store.list_workers())[0].last_seen_at == first.last_seen_at:
                    await anyio.sleep(0.01)
            group.cancel_scope.cancel()
        assert await store.list_workers() == []  # withdrawn as it stopped
    finally:
        await store.close()


async def test_a_pending_instance_no_live_worker_serves_says_so(store_url: str) -> None:
    async with durable.Client(store_url) as client:
        handle = await client.start("chekout", {"id": "x"}, instance_id="misspelt")
        status = await handle.status()
        assert status.status is durable.Status.PENDING
        assert status.error == "no live worker serves orchestrator 'chekout': no worker is running"
        async with durable.Worker(app, store_url):
            status = await handle.status()
            assert status.status is durable.Status.PENDING
            assert status.error == (
                "no live worker serves orchestrator 'chekout' "
                "(the live workers serve: 'approval', 'checkout', 'ship')"
            )
            assert await unserved(client.store, "checkout") is None
            served = await client.start(checkout, {"id": "o", "cents": 1, "items": []})
            assert (await served.result(timeout=30))["receipt"] == "receipt-1"


async def test_durable_workers_and_the_start_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("durable._cli.workers.START_GRACE", 0.3)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    empty = await acli("workers", "--store", url)
    assert empty.exit_code == 0 and empty.stderr.strip() == "no live worker"
    async with durable.Worker(app, url) as worker:
        table = await acli("workers", "--store", url)
        assert table.exit_code == 0
        header, row = table.stdout.strip().splitlines()[0], table.stdout.splitlines()[2]
        assert header.split() == [
            "worker", "host", "pid", "queues", "orchestrators", "activities", "seen"
        ]  # fmt: skip
        assert row.split()[:6] == [
            worker.worker_id, socket.gethostname(), str(os.getpid()), "default",
            "approval,checkout,ship", "charge,reserve",
        ]  # fmt: skip
        as_json = json.loads((await acli("workers", "--store", url, "--json")).stdout)
        assert [found["worker_id"] for found in as_json] == [worker.worker_id]
        started = await acli("start", "chekout", "--store", url, "--id", "typo")
        assert started.exit_code == 0 and started.stdout.strip() == "typo"
        assert started.stderr.strip() == (
            "warning: no live worker serves orchestrator 'chekout' "
            "(the live workers serve: 'approval', 'checkout', 'ship')"
        )
        fine = await acli("start", "approval", "--input", '"o-9"', "--store", url)
        assert fine.exit_code == 0 and fine.stderr == ""
