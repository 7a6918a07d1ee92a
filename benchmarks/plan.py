"""What ``make bench`` measures: the cases (workload x size), their figures and the targets.

The targets are the must-reach figures of issue 7, the goals its stretch figures; both are for
``durable`` with the default store settings (SQLite ``synchronous=FULL``) and an in-process
worker, except the PostgreSQL ones. A figure with neither is reported without a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: how a figure's physical limit is derived from the store's commits/s (``benchmarks.limits``)
#: commit_ms: the time of one commit; commits: the commits/s; sequential: size x commit time;
#: timer: the durable timer's 1 s; linear: perfect scaling (the worker-count ratio)
LimitKind = Literal["commit_ms", "commits", "sequential", "timer", "linear"]


@dataclass(frozen=True, slots=True)
class Bound:
    """``<= value`` (lower is better) or ``>= value`` (higher is better)."""

    value: float
    at_most: bool

    def met(self, measured: float) -> bool:
        return measured <= self.value if self.at_most else measured >= self.value


def at_most(value: float) -> Bound:
    return Bound(value, at_most=True)


def at_least(value: float) -> Bound:
    return Bound(value, at_most=False)


@dataclass(frozen=True, slots=True)
class Figure:
    """One number a workload reports (``key`` in the child's RESULT)."""

    key: str
    name: str
    unit: str
    higher_is_better: bool = False
    limit: LimitKind | None = None
    #: by store kind (``benchmarks.stores.STORE_NAMES``)
    targets: dict[str, Bound] = field(default_factory=dict)
    goals: dict[str, Bound] = field(default_factory=dict)
    #: the same figure's key in the peer scripts' SUMMARY, when they report it
    peer_key: str | None = None


@dataclass(frozen=True, slots=True)
class Case:
    """A workload at one size; ``compare`` when the peers ran the same size."""

    workload: str
    title: str
    size: int
    figures: tuple[Figure, ...]
    stores: frozenset[str] = frozenset({"sqlite", "sqlite-normal", "postgres"})
    compare: bool = True


SQLITE = "sqlite"
PG = "postgres"
SQLITES = frozenset({SQLITE, "sqlite-normal"})
#: W6's worker counts: one process, then this many
SCALE_WORKERS = 4


def cases(quick: bool) -> list[Case]:
    """The matrix, smaller in quick mode (and without the 10,000 variants)."""
    w1, w2, w6 = (50, 200, 200) if quick else (200, 1000, 1000)
    e1 = 2000 if quick else 5000
    plan = [
        Case("W1", f"W1 latency, {w1} in a row", w1, w1_figures(), compare=not quick),
        Case("W2", f"W2 {w2:,} orch x 3 steps", w2, w2_figures(), compare=not quick),
        Case("W3", "W3 1,000 sequential steps", 1000, w3_figures(1000)),
        Case("W4", "W4 fan-out 1,000", 1000, w4_figures(1000)),
    ]
    if not quick:
        # SQLite only: the 10,000 figures are SQLite goals, and on PostgreSQL they would
        # double the run's length
        plan += [
            Case("W3", "W3 10,000 sequential steps", 10_000, w3_figures(10_000), SQLITES, False),
            Case("W4", "W4 fan-out 10,000", 10_000, w4_figures(10_000), SQLITES, False),
        ]
    plan += [
        Case("W5", "W5 100 timers of 1 s", 100, (w5_figure(),)),
        Case(
            "W6",
            f"W6 {w6:,} orch x 3 steps of 50 ms, 8 activity slots a worker",
            w6,
            w6_figures(),
            stores=frozenset({PG}),
            compare=False,
        ),
        Case("W9", f"W9 updates and streams, {w1} round trips", w1, w9_figures(), compare=False),
        Case(
            "E1",
            f"E1 entities: {e1:,} signals to 1 and to {1000:,} entities, {200} calls",
            e1,
            e1_figures(),
            stores=frozenset({SQLITE, PG}),
            compare=False,
        ),
        Case(
            "W8",
            "W8 testing kit: 10 steps with a 30-day sleep (memory store, virtual clock)",
            100,
            w8_figures(),
            stores=frozenset({SQLITE}),  # the kit runs on its own memory store
            compare=False,
        ),
        Case(
            "W11",
            "W11 CLI: a whole process, median of 10",
            10,
            w11_figures(),
            stores=frozenset({SQLITE}),
            compare=False,
        ),
    ]
    return plan


def e1_figures() -> tuple[Figure, ...]:
    """Reported without a target (issue 16)."""
    return (
        Figure("one_per_s", "signals/s to one entity", "/s", higher_is_better=True),
        Figure("many_per_s", "signals/s to 1,000 entities", "/s", higher_is_better=True),
        Figure("call_p50_ms", "call_entity round trip p50", "ms"),
    )


#: Python work per step (``benchmarks.python_cost``): derived from W3 and W4 on SQLite FULL
PY_CASE = Case(
    "PY",
    "Python work per step (W3, W4 on SQLite FULL)",
    1000,
    (
        Figure("loop_s", "calibration loop, 10M iterations", "s"),
        Figure("step_ms", "per W3 step: (W3 - 1,000 commits) / 1,000", "ms"),
        Figure(
            "step_ms_scaled", "per W3 step, x (1.97 s / loop)", "ms",
            targets={SQLITE: at_most(0.35)},
        ),
        Figure("activity_ms", "per W4 activity: W4 / 1,000", "ms"),
        Figure(
            "activity_ms_scaled", "per W4 activity, x (1.97 s / loop)", "ms",
            targets={SQLITE: at_most(0.4)},
        ),
        Figure(
            "w3_growth", "W3: per step at 10,000 / at 1,000", "x", targets={SQLITE: at_most(1.1)}
        ),
        Figure(
            "w4_growth", "W4: per activity at 10,000 / at 1,000", "x",
            targets={SQLITE: at_most(1.1)},
        ),
    ),
    stores=SQLITES,
    compare=False,
)  # fmt: skip


#: PostgreSQL's W1 latency over SQLite's in the same run (``benchmarks.pg_ratio``, issue 21)
PG_RATIO_CASE = Case(
    "W1PG",
    "W1 latency, PostgreSQL / SQLite FULL (same run)",
    0,
    (Figure("p50_ratio", "p50 ratio", "x", targets={PG: at_most(1.3)}),),
    stores=frozenset({PG}),
    compare=False,
)


def w11_figures() -> tuple[Figure, ...]:
    return (
        Figure("help_ms", "durable --help, whole process", "ms", targets={SQLITE: at_most(250)}),
        Figure(
            "status_ms", "durable status ID, whole process", "ms",
            targets={SQLITE: at_most(250)},
        ),
        Figure("python_ms", "python -c pass (the interpreter alone)", "ms"),
    )  # fmt: skip


def w8_figures() -> tuple[Figure, ...]:
    return (
        Figure("test_ms", "wall per test, median of 100", "ms", targets={SQLITE: at_most(10.0)}),
        Figure(
            "month_ms", "30-day sleep + 2-day timeout, per test", "ms",
            targets={SQLITE: at_most(1000.0)},
        ),
    )  # fmt: skip


def w9_figures() -> tuple[Figure, ...]:
    return (
        Figure("w1_p50_ms", "W1 p50, same run", "ms"),
        Figure("update_p50_ms", "update round trip p50", "ms"),
        Figure(
            "update_over_w1", "update p50 / W1 p50", "x",
            targets={SQLITE: at_most(2.0), PG: at_most(2.0)},
        ),
        Figure(
            "stream_values_per_s", "stream values/s (activity to reader)", "/s",
            higher_is_better=True,
        ),
    )  # fmt: skip


def w1_figures() -> tuple[Figure, ...]:
    return (
        Figure(
            "p50_ms", "p50", "ms", limit="commit_ms",
            targets={SQLITE: at_most(3.0), PG: at_most(3.5)}, goals={SQLITE: at_most(1.5)},
            peer_key="p50_ms",
        ),
        Figure(
            "p99_ms", "p99", "ms", limit="commit_ms",
            targets={SQLITE: at_most(8.0)}, peer_key="p99_ms",
        ),
    )  # fmt: skip


def w2_figures() -> tuple[Figure, ...]:
    return (
        Figure("wall_s", "wall", "s", peer_key="wall_s"),
        Figure("start_s", "of which starting all", "s"),
        Figure("orch_per_s", "orchestrations/s", "/s", higher_is_better=True, peer_key="wf_per_s"),
        Figure(
            "steps_per_s", "activity steps/s", "/s", higher_is_better=True, limit="commits",
            targets={SQLITE: at_least(1500), PG: at_least(1000)}, goals={SQLITE: at_least(2500)},
            peer_key="steps_per_s",
        ),
    )  # fmt: skip


def w3_figures(steps: int) -> tuple[Figure, ...]:
    small = steps <= 1000
    return (
        Figure(
            "total_s", "total", "s", limit="sequential",
            targets={SQLITE: at_most(1.0)} if small else {},
            goals={SQLITE: at_most(0.6 if small else 6.0)},
            peer_key="total_s",
        ),
        Figure(
            "growth", "last 100 / first 100 steps", "x",
            targets={SQLITE: at_most(1.1)}, peer_key="last100_over_first100",
        ),
        # the process's CPU (worker and client): a busy machine stretches the wall time more
        Figure("cpu_ms_per_step", "process CPU per step", "ms"),
    )  # fmt: skip


def w4_figures(width: int) -> tuple[Figure, ...]:
    small = width <= 1000
    return (
        Figure(
            "total_s", "total", "s",
            targets={SQLITE: at_most(1.0)} if small else {},
            goals={SQLITE: at_most(0.5 if small else 5.0)},
            peer_key="total_s",
        ),
        Figure(
            "peak_rss_mib", "worker peak RSS", "MiB",
            targets={SQLITE: at_most(80)} if small else {},
            goals={} if small else {SQLITE: at_most(256)},
            peer_key="peak_rss_mb",
        ),
        Figure("rss_before_mib", "RSS before the fan-out", "MiB"),
        Figure("cpu_ms_per_activity", "process CPU per activity", "ms"),
        # a fan-in's completions are decided one at a time per instance: none replays history
        Figure(
            "replays", "episodes replayed", "",
            targets={SQLITE: at_most(0), PG: at_most(0)},
        ),
    )  # fmt: skip


def w5_figure() -> Figure:
    # issue 21: at most 0.05 s over the 1 s timer, on every store
    within = at_most(1.05)
    return Figure(
        "total_s",
        "total",
        "s",
        limit="timer",
        targets={SQLITE: within, "sqlite-normal": within, PG: within},
        peer_key="total_s",
    )


def w6_figures() -> tuple[Figure, ...]:
    return (
        Figure("steps_per_s_1", "steps/s, 1 worker", "/s", higher_is_better=True, limit="commits"),
        Figure(
            "steps_per_s_n",
            f"steps/s, {SCALE_WORKERS} workers",
            "/s",
            higher_is_better=True,
            limit="commits",
        ),
        Figure(
            "scale_ratio",
            f"{SCALE_WORKERS} workers / 1 worker",
            "x",
            higher_is_better=True,
            limit="linear",
            targets={PG: at_least(3.5)},
        ),
    )
