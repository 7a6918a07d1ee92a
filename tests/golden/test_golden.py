"""Golden histories: every sample's recorded histories replay against the current code, and its
orchestrators decide the same actions with the worker's generator cache on and off.

The ``.jsonl`` files here were recorded by ``python -m tests.golden.record`` (``scenarios``); a
change to a sample, the interpreter or the context that stops one of them from replaying fails
here, before it can strand running instances in production.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from durable._events import ScheduledEvent
from durable.stores.dumps import InstanceDump
from durable.testing import replay
from tests.golden.scenarios import SCENARIOS

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent.parent / "samples"


def test_every_sample_has_golden_histories() -> None:
    assert sorted(SCENARIOS) == sorted(path.stem for path in SAMPLES.glob("*.py"))
    assert sorted(SCENARIOS) == sorted(path.stem for path in HERE.glob("*.jsonl"))


@pytest.mark.parametrize("sample", sorted(SCENARIOS))
async def test_the_golden_histories_replay(sample: str) -> None:
    app, _ = SCENARIOS[sample]
    path = HERE / f"{sample}.jsonl"
    report = await replay(app, path)
    assert report.ok, str(report)
    assert report.replayed == len(path.read_text("utf-8").splitlines()) > 0


def _actions(dumps: list[InstanceDump]) -> dict[str, Any]:
    """Per instance: what its orchestrator decided (the scheduled effects) and how it ended."""
    return {
        dump.instance_id: (
            [
                (event.kind, getattr(event, "name", None), getattr(event, "input", None))
                for event in dump.history
                if isinstance(event, ScheduledEvent)
            ],
            dump.status,
            dump.output,
            dump.error and dump.error.message,
        )
        for dump in dumps
    }


@pytest.mark.parametrize("sample", sorted(SCENARIOS))
async def test_cached_and_replayed_episodes_decide_the_same(sample: str) -> None:
    _, scenario = SCENARIOS[sample]
    cached = _actions(await scenario(1000))
    replayed = _actions(await scenario(0))  # every episode replays the history
    assert replayed == cached
