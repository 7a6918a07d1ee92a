"""W11 of WORKLOADS.md: the command line, a whole process each time.

``durable --help`` and ``durable status ID --store URL`` (an instance that ran to its end on a
fresh SQLite store), each run ``runs`` times in a fresh process after one untimed run (which
writes the bytecode caches): the median wall time from ``exec`` to exit, in ms. ``python -c
pass`` is timed the same way, so the interpreter's own start-up can be told apart. Measure an
import's share with ``python -X importtime -m durable status ...`` (docs/benchmarks.md).

The output is captured, so ``--help`` prints its plain text, as in a script; at a terminal it
loads rich for its panels (``TTY_COMPATIBLE=1`` times that case).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import durable

from .app import app, one_step

RESULT_TIMEOUT = 60.0


def durable_command() -> list[str]:
    """The installed ``durable`` script beside this interpreter, else ``python -m``."""
    script = Path(sys.executable).parent / "durable"
    if script.exists():
        return [str(script)]
    found = shutil.which("durable")
    return [found] if found else [sys.executable, "-m", "durable"]


def wall_ms(command: list[str], runs: int) -> float:
    """Median wall ms of ``command`` over ``runs`` fresh processes (after one untimed run)."""
    subprocess.run(command, capture_output=True, check=True)
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


async def figures(url: str, runs: int) -> dict[str, float]:
    async with durable.Worker(app, url), durable.Client(url, app=app) as client:
        handle = await client.start(one_step, 1, instance_id="w11-instance")
        assert await handle.result(timeout=RESULT_TIMEOUT) == 2
    cli = durable_command()
    return {
        "help_ms": wall_ms([*cli, "--help"], runs),
        "status_ms": wall_ms([*cli, "status", "w11-instance", "--store", url], runs),
        "python_ms": wall_ms([sys.executable, "-c", "pass"], runs),
    }
