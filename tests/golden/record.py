"""Write the golden histories: ``python -m tests.golden.record [SAMPLE ...]`` (``scenarios``)."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from durable._cli.dump import dump_line
from tests.golden.scenarios import SCENARIOS

HERE = Path(__file__).resolve().parent


async def record(names: list[str]) -> None:
    for name in names or sorted(SCENARIOS):
        _, scenario = SCENARIOS[name]
        dumps = await scenario(1000)
        (HERE / f"{name}.jsonl").write_bytes(b"".join(dump_line(dump) for dump in dumps))
        print(f"{name}: {len(dumps)} instances")


if __name__ == "__main__":
    anyio.run(record, sys.argv[1:])
