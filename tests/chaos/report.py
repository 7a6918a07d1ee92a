"""The ``make chaos`` table: each chaos test appends its row, this prints them.

``DURABLE_CHAOS=1`` runs the full sizes of RELIABILITY.md (``make chaos``); without it the
tests run their short versions (``make test``). ``DURABLE_CHAOS_REPORT=FILE`` collects rows.
``python -m tests.chaos.report FILE`` prints the table (exit 1 if a row shows a violation).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

#: the full sizes (``make chaos``), else the short ones
FULL = os.environ.get("DURABLE_CHAOS") == "1"
COLUMNS = [
    ("test", "test"),
    ("store", "store"),
    ("kills", "faults survived"),
    ("completed", "instances completed"),
    ("duplicates", "duplicates recorded"),
    ("lost", "lost"),
    ("reexecutions", "ledger re-executions"),
    ("recovery", "max recovery s"),
    ("violations", "checker violations"),
    ("rss_slope", "RSS slope MiB/min"),
]


def size(full: int, short: int) -> int:
    return full if FULL else short


def record(**row: Any) -> None:
    """Append one row to the report file, if one is being collected."""
    path = os.environ.get("DURABLE_CHAOS_REPORT")
    if path:
        with Path(path).open("a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")


def table(rows: list[dict[str, Any]]) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |"]
    lines.append("|" + "---|" * len(COLUMNS))
    for row in rows:
        lines.append("| " + " | ".join(cell(row.get(key)) for key, _ in COLUMNS) + " |")
    return "\n".join(lines)


def main(path: str) -> int:
    file = Path(path)
    rows = [json.loads(line) for line in file.read_text().splitlines()] if file.exists() else []
    print(table(rows))
    bad = [r for r in rows if r.get("violations") or r.get("duplicates") or r.get("lost")]
    if not rows:
        print("no chaos rows were recorded", file=sys.stderr)
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
