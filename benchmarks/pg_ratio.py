"""PostgreSQL's W1 p50 over SQLite FULL's, from the W1 rows of one run (issue 21: <= 1.3).

A ratio of two figures measured minutes apart on the same machine holds on a slow day too,
where the absolute milliseconds do not.
"""

from __future__ import annotations

from .plan import PG_RATIO_CASE
from .runner import Measured


def derive(measured: list[Measured]) -> Measured | None:
    """The ratio's row, or None when the run lacks W1 on either store."""
    p50 = {m.store: m.medians.get("p50_ms") for m in measured if m.case.workload == "W1"}
    sqlite, postgres = p50.get("sqlite"), p50.get("postgres")
    if not sqlite or postgres is None:
        return None
    result = Measured(PG_RATIO_CASE, "postgres")
    result.medians = {"p50_ratio": postgres / sqlite}
    result.reps = {"p50_ratio": [postgres / sqlite]}
    return result
