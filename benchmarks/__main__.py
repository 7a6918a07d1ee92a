"""``python -m benchmarks`` (``make bench``): W1-W6 on SQLite and PostgreSQL, the physical
limits in the same run, one markdown table on stdout and in ``benchmarks/RESULTS.md``.

Options: ``--quick`` (or env ``DURABLE_BENCH_QUICK=1``: one repetition, smaller sizes, under
two minutes), ``--only W1,W2``, ``--store sqlite,sqlite-normal,postgres``, ``--reps N``,
``--peers`` (``make bench-peers``), ``--output PATH`` / ``--no-write``. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import anyio

from . import limits, machine, peers, pg_ratio, python_cost, report, stores
from .plan import cases
from .runner import Measured, Progress, run_case
from .stores import STORE_NAMES

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "RESULTS.md"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    quick_env = os.environ.get("DURABLE_BENCH_QUICK", "") not in ("", "0")
    parser.add_argument("--quick", action="store_true", default=quick_env)
    parser.add_argument("--only", default="", help="workloads, e.g. W1,W3 (default: all)")
    parser.add_argument("--store", default="sqlite,postgres", help="sqlite,sqlite-normal,postgres")
    parser.add_argument("--reps", type=int, help="repetitions (default 3; quick: 1)")
    parser.add_argument(
        "--long-rep",
        type=float,
        default=45.0,
        help="a case whose first repetition takes longer (s) runs once (default 45)",
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also run the peers (DBOS, Restate, duroxide, Temporal)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    args.kinds = [kind for kind in args.store.split(",") if kind]
    unknown = set(args.kinds) - set(stores.STORE_NAMES)
    if unknown:
        parser.error(f"--store: unknown {', '.join(sorted(unknown))}")
    args.reps = args.reps or (1 if args.quick else 3)
    return args


def progress(began: float) -> Progress:
    def say(message: str) -> None:
        print(f"[{time.perf_counter() - began:6.1f} s] {message}", file=sys.stderr, flush=True)

    return say


def stop_on_sigterm() -> None:
    """SIGTERM ends the run like Ctrl-C, so the server and children are cleaned up."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    found: list[peers.Peer] = []
    if args.peers:
        found, missing = peers.present()
        if missing:
            print(missing)
            args.peer_note = missing  # and in RESULTS.md's notes: reported, not left out
        if not found:
            return 0
    stop_on_sigterm()
    began = time.perf_counter()
    say = progress(began)
    pool = stores.Stores()
    try:
        table, info, notes = run(args, pool, found, say)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        pool.close()
    info["wall time of the run"] = f"{time.perf_counter() - began:.0f} s"
    print(table.markdown())
    if not args.no_write:
        args.output.write_text(report.results_markdown(table, info, notes))
        say(f"wrote {args.output}")
    return 0


def run(
    args: argparse.Namespace, pool: stores.Stores, found: list[peers.Peer], say: Progress
) -> tuple[report.Table, dict[str, str], list[str]]:
    """Limits, then every case on every store, then the peers; the table and its context."""
    notes: list[str] = [args.peer_note] if getattr(args, "peer_note", None) else []
    load_before = machine.load()
    pg_reason = None
    if "postgres" in args.kinds or found:
        say("starting a throwaway PostgreSQL server (fsync=on)")
        pg_reason = pool.start_postgres()
    seconds, limit_reps = (1.0, 1) if args.quick else (1.5, 3)
    say("measuring the physical limits")
    measured_limits = anyio.run(limits.measure_all, pool.postgres_url, seconds, limit_reps)
    pg_url = pool.postgres_url
    pg_version = anyio.run(limits.postgres_version, pg_url) if pg_url is not None else None
    if pg_reason is None and "postgres" in args.kinds:
        url, cleanup = pool.fresh("postgres")
        pg_reason = stores.probe(url)
        cleanup()
    if pg_reason is not None and "postgres" in args.kinds:
        notes.append(f"PostgreSQL store unavailable in this run: {pg_reason}")
    measured = run_matrix(args, pool, pg_reason, say)
    say("timing the calibration loop (10M iterations)")
    derived = python_cost.derive(
        measured, measured_limits.get("sqlite-full"), python_cost.calibration_loop()
    )
    ratio = pg_ratio.derive(measured)
    measured += [row for row in (derived, ratio) if row is not None]
    peer_figures: report.PeerFigures = {}
    for peer in found:
        peer_figures |= peers.run_peer(peer, args.reps, pool.postgres_url, say)
    info = machine.describe(pg_version)
    info["mode"] = "quick" if args.quick else "full"
    info["repetitions"] = f"{args.reps} per figure (limits: {limit_reps} x {seconds} s)"
    info["load average (1 min) before / after"] = f"{load_before} / {machine.load()}"
    notes += [
        f"{m.case.title} on {STORE_NAMES[m.store]}: {m.shortened}." for m in measured if m.shortened
    ]
    if args.quick:
        notes.append(
            "Quick mode: one repetition and smaller W1/W2/W6, no 10,000 variants; the verdicts "
            "are indicative only."
        )
    return report.build(measured, measured_limits, peer_figures or None), info, notes


def run_matrix(
    args: argparse.Namespace, pool: stores.Stores, pg_reason: str | None, say: Progress
) -> list[Measured]:
    wanted = {w.strip().upper() for w in args.only.split(",") if w.strip()}
    measured = []
    for case in cases(args.quick):
        if wanted and case.workload not in wanted:
            continue
        for kind in args.kinds:
            if kind not in case.stores:
                continue
            if kind == "postgres" and pg_reason is not None:
                measured.append(Measured(case, kind, error=f"unavailable: {pg_reason}"))
                continue
            measured.append(run_case(case, kind, pool, args.reps, say, args.long_rep))
    return measured


if __name__ == "__main__":
    sys.exit(main())
