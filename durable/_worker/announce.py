"""A worker announces itself in the store (DESIGN 7): who it is and what it serves, renewed
every ``ANNOUNCE_EVERY`` seconds while it runs, withdrawn when it stops. ``client.workers()``,
``durable workers`` and the dashboard list the live ones; a PENDING instance that no live
worker serves says so in its status."""

from __future__ import annotations

import logging
import os
import socket

import anyio
from anyio.abc import TaskStatus

from ..stores.base import ClaimSpec, Store
from ..stores.workers import ANNOUNCE_EVERY, WorkerInfo

logger = logging.getLogger("durable.worker")


def info_of(spec: ClaimSpec) -> WorkerInfo:
    """How a worker with claim ``spec`` describes itself."""
    return WorkerInfo(
        worker_id=spec.worker_id,
        host=socket.gethostname(),
        pid=os.getpid(),
        queues=tuple(sorted(spec.queues)),
        orchestrators=tuple(sorted(spec.orchestrators)),
        activities=tuple(sorted(spec.activities)),
    )


async def _announce(store: Store, info: WorkerInfo) -> None:
    try:
        await store.announce_worker(info)
    except Exception as exc:  # the store's trouble: the claim loops report it; try again later
        logger.debug("announcing worker %s failed: %s", info.worker_id, exc)


async def announcing(
    store: Store,
    spec: ClaimSpec,
    every: float = ANNOUNCE_EVERY,
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Announce the worker, then renew it every ``every`` seconds until cancelled; withdraw."""
    info = info_of(spec)
    await _announce(store, info)
    task_status.started()
    try:
        while True:
            await anyio.sleep(every)
            await _announce(store, info)
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            try:
                await store.withdraw_worker(info.worker_id)
            except Exception as exc:
                logger.debug("withdrawing worker %s failed: %s", info.worker_id, exc)


async def unserved(store: Store, name: str) -> str | None:
    """Why a PENDING instance of orchestrator ``name`` waits, when no live worker serves it
    (a misspelt name, or no worker running); None when one does."""
    workers = await store.list_workers()
    if any(name in worker.orchestrators for worker in workers):
        return None
    if not workers:
        return f"no live worker serves orchestrator {name!r}: no worker is running"
    served = sorted({served for worker in workers for served in worker.orchestrators})
    known = ", ".join(repr(served) for served in served) or "none"
    return f"no live worker serves orchestrator {name!r} (the live workers serve: {known})"
