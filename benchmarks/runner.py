"""Runs the cases of ``benchmarks.plan``: each repetition in a fresh child process on a fresh
store, and the median of the repetitions.

Each child runs in a session of its own, so that on Ctrl-C, SIGTERM or a timeout the whole
group (the child and W6's worker processes) is stopped, and nothing outlives the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .plan import SCALE_WORKERS, Case
from .stores import Stores

ROOT = Path(__file__).resolve().parent.parent
#: one repetition taking longer than this is a hang
CHILD_TIMEOUT = 900.0

Progress = Callable[[str], None]


@dataclass
class Measured:
    """A case on one store: the median of each figure, every repetition, or why it failed."""

    case: Case
    store: str
    medians: dict[str, float] = field(default_factory=dict)
    reps: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None
    #: why fewer repetitions than asked ran (None when all ran)
    shortened: str | None = None


class ChildFailed(Exception):
    """A repetition ended without a RESULT line; the message is the reason, in one line."""


def run_child(args: list[str], timeout: float = CHILD_TIMEOUT) -> dict[str, float]:
    """Run ``python -m benchmarks.child ARGS``; its figures."""
    command = [sys.executable, "-m", "benchmarks.child", *args]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(process)
        raise ChildFailed(f"timed out after {timeout:.0f} s") from None
    except BaseException:
        stop_group(process)
        raise
    return parse_child_output(out, err, process.returncode)


def parse_child_output(out: str, err: str, returncode: int) -> dict[str, float]:
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            figures: dict[str, float] = json.loads(line[len("RESULT ") :])
            return figures
        if line.startswith("ERROR "):
            error = json.loads(line[len("ERROR ") :])
            raise ChildFailed(f"{error['type']}: {error['message']}")
    tail = err.strip().splitlines()[-1:] or [f"exit status {returncode}"]
    raise ChildFailed(f"no result ({tail[0][:200]})")


def stop_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM the child's process group (W6's workers stop gracefully on it), then SIGKILL
    whatever is left of the group after a grace period."""
    signal_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.communicate(timeout=15)
    signal_group(process.pid, signal.SIGKILL)
    process.communicate()


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has exited already
        os.killpg(pgid, sig)


def scale_repetition(case: Case, stores: Stores, kind: str) -> dict[str, float]:
    """W6: 1 worker, then SCALE_WORKERS workers, each on a fresh store; both rates and ratio."""
    rates = []
    for workers in (1, SCALE_WORKERS):
        url, cleanup = stores.fresh(kind)
        try:
            figures = run_child(["W6", url, str(case.size), "--workers", str(workers)])
        finally:
            cleanup()
        rates.append(figures["steps_per_s"])
    return {
        "steps_per_s_1": rates[0],
        "steps_per_s_n": rates[1],
        "scale_ratio": rates[1] / rates[0],
    }


def run_case(
    case: Case, kind: str, stores: Stores, reps: int, progress: Progress, long_rep: float
) -> Measured:
    """``reps`` repetitions of ``case`` on store ``kind``; stops at the first failure.

    A case whose first repetition takes over ``long_rep`` seconds runs only once: so long a
    run averages its own noise, and repeating it would make the full run too long to use.
    """
    measured = Measured(case, kind)
    elapsed = 0.0
    for rep in range(reps):
        if rep == 1 and elapsed > long_rep:
            measured.shortened = (
                f"one repetition only: it took {elapsed:.0f} s (> {long_rep:.0f} s)"
            )
            progress(f"{kind} {case.title}: {measured.shortened}")
            break
        began = time.perf_counter()
        try:
            if case.workload == "W6":
                figures = scale_repetition(case, stores, kind)
            else:
                url, cleanup = stores.fresh(kind)
                try:
                    figures = run_child([case.workload, url, str(case.size)])
                finally:
                    cleanup()
        except ChildFailed as exc:
            measured.error = f"failed: {exc}"
            progress(f"{kind} {case.title}: failed: {exc}")
            return measured
        for key, value in figures.items():
            measured.reps.setdefault(key, []).append(value)
        shown = ", ".join(f"{f.key}={figures[f.key]:.4g}" for f in case.figures if f.key in figures)
        elapsed = time.perf_counter() - began
        progress(f"{kind} {case.title} rep {rep + 1}/{reps}: {shown} ({elapsed:.1f} s)")
    measured.medians = {key: statistics.median(values) for key, values in measured.reps.items()}
    return measured
