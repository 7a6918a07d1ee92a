"""Python work per step, derived from W3 and W4, and scaled to a calibration loop (issue 21).

* per sequential step: (W3 total - steps x one commit) / steps, one commit being the time of one
  single-row INSERT+COMMIT measured in the same run (``benchmarks.limits``, SQLite FULL): what
  is left once the disk's share is taken out is the Python work of a step;
* per fanned-out activity: W4 total / width (its commits are batched: a fan-in's completions go
  to the store together, so the disk's share is small and is left in);
* growth: the time per step at 10,000 over the time per step at 1,000 (1.0 = linear);
* the calibration loop: ``for i in range(10_000_000): s += i`` at a module's top level, in a
  fresh interpreter (``python -c``), as it was timed on 2026-12-05 (1.97 s). CPUs differ from
  day to day; a figure x (1.97 s / the loop's time today) is what it would have been that day.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

from .limits import Limit
from .plan import PY_CASE, Case
from .runner import Measured

#: the calibration loop's time on the slow CPU of 2026-12-05 (shared/bench/RESULTS.md)
REFERENCE_LOOP_S = 1.97
LOOP = "import time\nt = time.perf_counter()\ns = 0\nfor i in range(10_000_000): s += i\n"
LOOP += "print(time.perf_counter() - t)"


def calibration_loop(reps: int = 3) -> list[float]:
    """The loop's seconds, each in a fresh interpreter (its start-up is not timed)."""
    values = []
    for _ in range(reps):
        out = subprocess.run([sys.executable, "-c", LOOP], capture_output=True, text=True)
        values.append(float(out.stdout.strip()))
    return values


def _median_of(measured: list[Measured], workload: str, size: int, key: str) -> float | None:
    for m in measured:
        if m.store == "sqlite" and m.case.workload == workload and m.case.size == size:
            return m.medians.get(key)
    return None


def derive(measured: list[Measured], limit: Limit | None, loop: list[float]) -> Measured | None:
    """The PY case's figures, from the SQLite FULL rows of this run (None without them)."""
    w3 = _median_of(measured, "W3", 1000, "total_s")
    w4 = _median_of(measured, "W4", 1000, "total_s")
    if not loop or (w3 is None and w4 is None):
        return None
    case: Case = PY_CASE
    loop_s = statistics.median(loop)
    scale = REFERENCE_LOOP_S / loop_s
    figures: dict[str, float] = {"loop_s": loop_s}
    if w3 is not None and limit is not None:
        # (W3 s x 1,000 ms/s - 1,000 x commit ms) / 1,000 steps
        step_ms = (w3 * 1000 - 1000 * limit.commit_ms) / 1000
        figures |= {"step_ms": step_ms, "step_ms_scaled": step_ms * scale}
    if w4 is not None:
        activity_ms = w4 * 1000 / 1000  # W4 ms / 1,000 activities
        figures |= {"activity_ms": activity_ms, "activity_ms_scaled": activity_ms * scale}
    w3_10k = _median_of(measured, "W3", 10_000, "total_s")
    w4_10k = _median_of(measured, "W4", 10_000, "total_s")
    if w3 is not None and w3_10k is not None:
        figures["w3_growth"] = w3_10k / 10 / w3
    if w4 is not None and w4_10k is not None:
        figures["w4_growth"] = w4_10k / 10 / w4
    result = Measured(case, "sqlite")
    result.medians = figures
    result.reps = {key: [value] for key, value in figures.items()}
    result.reps["loop_s"] = loop
    return result
