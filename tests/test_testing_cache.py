"""The worker suite once more with the generator cache off: every episode replays its history.

Live generators make the next episode O(1); a cache miss replays the history, and both paths
must decide the same. ``tests/golden`` compares their actions sample by sample; this runs the
whole worker suite (tests/test_worker.py, on SQLite and the memory store: the cache is the
worker's, the same over every backend) in a subprocess with ``DURABLE_WORKER_CACHE_SIZE=0``.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

from durable import Worker
from tests.conftest import CACHE_SIZE_ENV

ROOT = Path(__file__).resolve().parent.parent
#: tests of the cache itself, left out of the cache-off pass: a step is one transaction and a
#: fan-in replays nothing only through the cached generator (``then=`` of complete_activity),
#: and a result recorded while the worker stops reaches the history with that next episode
#: (without the cache it waits in the inbox for the next claim, which the test then makes)
CACHE_ITSELF = (
    "test_each_step_is_one_transaction",
    "test_a_fan_in_replays_nothing_and_records_results_together",
    "test_stop_lets_in_flight_work_finish",
)


def test_the_default_cache_size_follows_the_environment() -> None:
    default = inspect.signature(Worker).parameters["cache_size"].default
    assert default == int(os.environ.get(CACHE_SIZE_ENV) or 1000)


def test_the_worker_suite_passes_with_the_cache_off() -> None:
    env = {**os.environ, CACHE_SIZE_ENV: "0"}
    env.pop("DURABLE_REQUIRE_POSTGRES", None)
    this = "tests/test_testing_cache.py::test_the_default_cache_size_follows_the_environment"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "-k",
            " and ".join(["not postgres", *(f"not {name}" for name in CACHE_ITSELF)]),
            "tests/test_worker.py",
            this,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-500:]
