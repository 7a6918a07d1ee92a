"""What clients read back from a running instance: its durable streams and its updates' answers.

A stream is an append-only list of encoded values per ``(instance, key)``, numbered from 0 in
the order they were appended; the orchestrator appends with its episode's commit
(``ctx.write_stream``), an activity with ``Store.append_stream`` (``durable.write_stream``). An
update's answer is one row per update id, written with the episode that answered it. Both go
with the instance when it is purged. Every backend keeps them in these shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

#: the tables (or maps) that hold them, purged with the instance
OUTPUT_TABLES = ("streams", "update_results")

#: most values one ``read_stream`` call returns (a reader pages through longer streams)
READ_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class UpdateAnswer:
    """The stored answer to an update: ``result`` (encoded), or else ``rejection``."""

    result: str | None
    rejection: str | None


def positions(last: dict[str, int], entries: list[tuple[str, str]]) -> list[tuple[str, int, str]]:
    """``(key, position, value)`` rows for ``entries`` appended after ``last`` (each key's last
    position, -1 or missing for an empty stream); ``last`` is updated."""
    rows = []
    for key, value in entries:
        position = last.get(key, -1) + 1
        last[key] = position
        rows.append((key, position, value))
    return rows


class OutputStore(Protocol):
    """The ``Store`` calls for streams and updates' answers (every backend has them)."""

    async def append_stream(self, instance_id: str, entries: Sequence[tuple[str, str]]) -> None:
        """Append ``(key, encoded value)`` entries to the instance's streams, in order, and
        wake its readers (in every process)."""

    async def read_stream(
        self, instance_id: str, key: str, start: int, limit: int = READ_LIMIT
    ) -> list[str]:
        """Up to ``limit`` encoded values of stream ``key`` from position ``start``, in order."""

    async def get_update_answer(self, instance_id: str, update_id: str) -> UpdateAnswer | None:
        """The answer to update ``update_id``, or None while it has none."""

    async def wait_for_output(
        self, instance_id: str, timeout: float, since: int | None = None
    ) -> None:
        """Return when the instance may have new stream values, a new answer or a new status
        (at the latest after ``timeout``); ``since``: an ``instance_mark`` taken before the
        caller last read, so that nothing written after that read is missed."""
