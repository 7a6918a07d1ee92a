"""The one markdown table of a run, and ``benchmarks/RESULTS.md`` (the table plus the machine).

"ratio to limit" is value / limit: for a rate, the share of the store's single-connection
commit rate reached; for a time, how many commit times (or timer lengths) it takes. "vs <peer>"
columns are durable's advantage: above 1 means durable did better on that figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .limits import Limit
from .plan import SCALE_WORKERS, Bound, Case, Figure
from .runner import Measured
from .stores import LIMIT_OF, STORE_NAMES

HEADER = [
    "workload", "store", "figure", "value", "limit", "ratio to limit",
    "target", "met", "goal", "reps",
]  # fmt: skip
PASS, MISS = "✅ pass", "❌ miss"

#: peer name -> {(store kind, workload title): {peer figure key: value}}
PeerFigures = dict[str, dict[tuple[str, str], dict[str, float]]]


@dataclass
class Table:
    """Rows of cells; ``peers`` names the extra "vs <peer>" columns."""

    peers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    def markdown(self) -> str:
        header = HEADER + [f"vs {peer}" for peer in self.peers]
        lines = ["| " + " | ".join(header) + " |"]
        lines.append(
            "| "
            + " | ".join("---:" if c in NUMERIC or c.startswith("vs ") else "---" for c in header)
            + " |"
        )
        lines += [
            "| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in self.rows
        ]
        return "\n".join(lines)


NUMERIC = {"value", "limit", "ratio to limit"}


def build(
    measured: list[Measured], limits: dict[str, Limit], peers: PeerFigures | None = None
) -> Table:
    """The table: the physical limits first, then each case on each store."""
    table = Table(peers=sorted(peers or {}))
    for limit in limits.values():
        reps = ", ".join(f"{v:,.0f}" for v in limit.reps)
        cells = ["physical limit", limit.name, "INSERT+COMMIT/s", f"{limit.per_s:,.0f} /s"]
        table.rows.append(cells + ["", "", "", "", "", reps] + [""] * len(table.peers))
    for result in measured:
        table.rows += case_rows(result, limits.get(LIMIT_OF[result.store]), peers or {}, table)
    return table


def case_rows(
    result: Measured, limit: Limit | None, peers: PeerFigures, table: Table
) -> list[list[str]]:
    case, kind = result.case, result.store
    store = STORE_NAMES[kind]
    if result.error is not None:
        names = ", ".join(f.name for f in case.figures)
        targets = "; ".join(
            f"{f.name} {bound_text(f.targets[kind], f.unit)}"
            for f in case.figures
            if kind in f.targets
        )
        row = [case.title, store, names, result.error, "", "", targets]
        return [row + ["n/a" if targets else "", "", ""] + [""] * len(table.peers)]
    rows = []
    for figure in case.figures:
        if figure.key not in result.medians:
            continue
        value = result.medians[figure.key]
        limit_value, limit_text = limit_of(figure, case, limit)
        ratio = f"{value / limit_value:.3g}x" if limit_value else ""
        target = figure.targets.get(kind)
        goal = figure.goals.get(kind)
        row = [
            case.title, store, figure.name, fmt(value, figure.unit), limit_text, ratio,
            bound_text(target, figure.unit) if target else "",
            (PASS if target.met(value) else MISS) if target else "",
            bound_text(goal, figure.unit) if goal else "",
            ", ".join(fmt(v, figure.unit, with_unit=False) for v in result.reps[figure.key]),
        ]  # fmt: skip
        row += [peer_ratio(peers.get(p, {}), kind, case, figure, value) for p in table.peers]
        rows.append(row)
    return rows


def limit_of(figure: Figure, case: Case, limit: Limit | None) -> tuple[float | None, str]:
    """The figure's physical limit as a number in the figure's unit, and as table text."""
    kind = figure.limit
    if kind == "timer":
        return 1.0, "1.00 s (the timer)"
    if kind == "linear":
        return float(SCALE_WORKERS), f"{SCALE_WORKERS:.2f} (linear)"
    if kind is None or limit is None:
        return None, ""
    if kind == "commit_ms":
        return limit.commit_ms, f"{limit.commit_ms:.2f} ms (1 commit)"
    if kind == "commits":
        return limit.per_s, f"{limit.per_s:,.0f} commits/s"
    seconds = case.size * limit.commit_ms / 1000
    return seconds, f"{seconds:.2f} s ({case.size:,} commits)"


def peer_ratio(
    figures: dict[tuple[str, str], dict[str, float]],
    kind: str,
    case: Case,
    figure: Figure,
    value: float,
) -> str:
    """durable's advantage over a peer on one figure (above 1: durable did better)."""
    if not case.compare or figure.peer_key is None:
        return ""
    theirs = figures.get((kind, case.workload), {}).get(figure.peer_key)
    if not theirs or not value:
        return ""
    advantage = value / theirs if figure.higher_is_better else theirs / value
    return f"{advantage:.3g}x"


def bound_text(bound: Bound, unit: str) -> str:
    return f"{'≤' if bound.at_most else '≥'} {fmt(bound.value, unit)}"


def fmt(value: float, unit: str, *, with_unit: bool = True) -> str:
    """A figure as the table shows it: rates without decimals, times with two."""
    if unit == "/s":
        text = f"{value:,.0f}"
    elif unit in ("ms", "s"):
        text = f"{value:.2f}" if value < 100 else f"{value:,.0f}"
    elif unit == "MiB":
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}" if with_unit and unit != "x" else text


def results_markdown(table: Table, info: dict[str, str], notes: list[str]) -> str:
    """The content of ``benchmarks/RESULTS.md``."""
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` ({info.get('mode', '?')} mode). Workloads: "
        "`shared/bench/WORKLOADS.md`; how to run and read this: `docs/benchmarks.md`. "
        "Every figure is the median of the repetitions listed in the last column, each on a "
        "fresh store in a fresh process after a warm-up. The machine may have been busy with "
        "other work: compare figures of one run with each other, not across runs.",
        "",
        "## Machine and run",
        "",
        *[f"- {key}: {value}" for key, value in info.items()],
        "",
        "## Figures",
        "",
        table.markdown(),
        "",
        "Reading: *limit* is the physical limit measured in the same run (one connection's "
        "single-row INSERT+COMMIT rate, or the time of one such commit); *ratio to limit* is "
        "value / limit; *target* is the must-reach figure of issue 7, *goal* its stretch "
        "figure; both are for SQLite synchronous=FULL with an in-process worker unless the "
        "store column says PostgreSQL.",
    ]
    if notes:
        lines += ["", "## Notes", "", *[f"- {note}" for note in notes]]
    return "\n".join(lines) + "\n"
