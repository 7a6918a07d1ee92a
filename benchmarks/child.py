"""One repetition of one workload, in a fresh process: ``python -m benchmarks.child W URL SIZE``.

A fresh interpreter per repetition keeps repetitions independent (no generator cache, garbage
or event-loop state carried over) and makes W4's peak RSS the peak of this run alone. W1-W5 run
a ``durable.Worker`` and a ``durable.Client`` in this process, warm up, then measure; W6 starts
worker subprocesses (``benchmarks.scaleout``).

The last line on stdout is ``RESULT {json figures}`` or ``ERROR {"type": ..., "message": ...}``;
the parent (``benchmarks.runner``) reads it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import anyio

import durable

from . import entity_bench  # noqa: F401 (registers E1's entity on the app)
from .app import app
from .workloads import RUNNERS, Figures, warm_up


async def in_process(workload: str, url: str, size: int) -> Figures:
    """Worker and client in this process (W1-W5)."""
    async with durable.Worker(app, url) as worker, durable.Client(url, app=app) as client:
        await warm_up(client)
        replays = worker.replays
        figures = await RUNNERS[workload](client, size)
        if workload == "W4":  # episodes decided by replaying history (a generator cache miss)
            figures["replays"] = worker.replays - replays
        return figures


async def measure(workload: str, url: str, size: int, workers: int) -> Figures:
    if workload == "W6":
        from .scaleout import scale_out

        return await scale_out(url, size, workers)
    if workload == "W8":  # the testing kit: its own memory store and clock (``url`` unused)
        from .testing_kit import figures

        return await figures(size)
    if workload == "W11":  # the command line, whole processes against a store made here
        from .cli_bench import figures as cli_figures

        return await cli_figures(url, size)
    return await in_process(workload, url, size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.child")
    parser.add_argument("workload", choices=[*RUNNERS, "W6", "W8", "W11"])
    parser.add_argument("url")
    parser.add_argument("size", type=int)
    parser.add_argument("--workers", type=int, default=1, help="W6: worker processes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        figures = anyio.run(measure, args.workload, args.url, args.size, args.workers)
    except Exception as exc:
        # one line the parent can show in the table; the traceback goes to stderr
        logging.getLogger("benchmarks").exception("%s failed", args.workload)
        error = {"type": type(exc).__name__, "message": str(exc).splitlines()[0][:300]}
        print("ERROR " + json.dumps(error), flush=True)
        return 1
    print("RESULT " + json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
