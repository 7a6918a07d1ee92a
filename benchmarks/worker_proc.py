"""A worker process for W6: ``python -m benchmarks.worker_proc URL``.

Runs ``durable.Worker(app, URL)`` with its default options until SIGTERM or SIGINT, then stops
it gracefully. Prints ``READY`` on stdout once the worker is claiming work, so that the
benchmark can leave process start-up out of its timing. Written here rather than using a
``durable worker`` command line so that the benchmark depends only on the library's API.
"""

from __future__ import annotations

import logging
import signal
import sys

import anyio

import durable

from .app import app


async def serve(url: str) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with durable.Worker(app, url):
            print("READY", flush=True)
            async for _ in signals:
                break


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m benchmarks.worker_proc STORE_URL", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    anyio.run(serve, args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
