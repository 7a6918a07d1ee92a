"""A worker process for W6: ``python -m benchmarks.worker_proc URL [MAX_ACTIVITIES]``.

Runs ``durable.Worker(app, URL)`` until SIGTERM or SIGINT, then stops it gracefully. W6 limits
each process to ``MAX_ACTIVITIES`` activities at once (8, WORKLOADS.md), so that one worker is
bound by its slots and not by the CPU: the ratio of 4 workers to 1 then measures scale-out.
Prints ``READY`` on stdout once the worker is claiming work, so that the benchmark can leave
process start-up out of its timing. Written here rather than using a
``durable worker`` command line so that the benchmark depends only on the library's API.
"""

from __future__ import annotations

import logging
import signal
import sys

import anyio

import durable

from .app import app


async def serve(url: str, max_activities: int) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with durable.Worker(app, url, max_concurrent_activities=max_activities):
            print("READY", flush=True)
            async for _ in signals:
                break


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m benchmarks.worker_proc STORE_URL [MAX_ACTIVITIES]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    anyio.run(serve, args[0], int(args[1]) if len(args) == 2 else 64)
    return 0


if __name__ == "__main__":
    sys.exit(main())
