"""The SQLite store's step, statement by statement (issue 21): a completion that commits the
episode decided before it takes the instance in one guarded UPDATE (no row read, no inbox
query), and a claim names its queues and activities as parameters (or, for a worker serving
very many names, through ``json_each``), with the same outcome either way."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from durable._actions import ActivityOptions, ScheduleActivity
from durable._events import ActivityCompleted, ActivityScheduled, HistoryEvent
from durable._status import Status
from durable.stores.base import ClaimSpec, EpisodeCommit, NewInstance
from durable.stores.sqlite import activities
from durable.stores.sqlite.store import SQLiteStore

W1 = "worker-1"


def spec(activities: frozenset[str] = frozenset({"act"})) -> ClaimSpec:
    return ClaimSpec(W1, 30.0, frozenset({"orch"}), activities, frozenset({"default"}))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(str(tmp_path / "steps.db"))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def traced(store: SQLiteStore) -> list[str]:
    """The statements the store's connection runs from now on."""
    statements: list[str] = []
    raw = store._db._raw
    assert raw is not None
    raw.set_trace_callback(lambda sql: statements.append(" ".join(sql.split())))
    return statements


async def running(store: SQLiteStore, tasks: int = 1) -> int:
    """Instance ``i-1`` RUNNING with ``tasks`` activities scheduled; its version."""
    assert await store.create_instance(NewInstance("i-1", "orch", "1"))
    item = await store.claim_orchestration(spec())
    assert item is not None
    new: list[HistoryEvent] = [m.event for m in item.messages]
    new += [ActivityScheduled(task_id=t, name="act", input="[1]") for t in range(tasks)]
    events = [dataclasses.replace(e, seq=i) for i, e in enumerate(new)]
    actions = tuple(ScheduleActivity(t, "act", "[1]", ActivityOptions()) for t in range(tasks))
    consumed = [m.id for m in item.messages]
    await store.commit_episode(
        EpisodeCommit("i-1", W1, 1, 0, events, actions, consumed, Status.RUNNING)
    )
    return len(events)


async def test_a_completion_takes_its_next_episode_without_reading_the_instance(
    store: SQLiteStore,
) -> None:
    version = await running(store)
    item = await store.claim_activity(spec())
    assert item is not None
    then = EpisodeCommit(
        "i-1",
        W1,
        1,
        version,
        [
            ActivityCompleted(seq=version, task_id=0, result="1"),
            ActivityScheduled(seq=version + 1, task_id=1, name="act", input="[2]"),
        ],
        (ScheduleActivity(1, "act", "[2]", ActivityOptions(timeout=5)),),
        [],
        Status.RUNNING,
    )
    statements = traced(store)
    done, eager = await store.complete_activity(item, "1", then=then, eager=spec(), eager_limit=1)
    assert done and eager is not None and len(eager) == 1
    assert not [s for s in statements if s.startswith("SELECT")]
    assert [s.split()[0] for s in statements] == [
        *("BEGIN", "DELETE", "UPDATE", "INSERT", "INSERT", "COMMIT"),
    ]
    # the item made from the values written is the row as a claim would read it back
    claimed = eager[0]
    assert (claimed.task_id, claimed.input, claimed.attempt, claimed.timeout) == (1, "[2]", 1, 5.0)
    assert isinstance(claimed.timeout, float)
    record = await store.get_instance("i-1")
    assert record is not None and (record.version, record.status) == (version + 2, Status.RUNNING)
    history = await store.get_history("i-1")
    assert [e.kind for e in history[-2:]] == ["ActivityCompleted", "ActivityScheduled"]


@pytest.mark.parametrize("names", [1, activities.MAX_LISTED + 1])
async def test_a_claim_finds_the_same_activity_however_its_names_are_passed(
    store: SQLiteStore, names: int
) -> None:
    await running(store, tasks=2)
    served = frozenset({"act", *(f"other-{n}" for n in range(names - 1))})
    statements = traced(store)
    first = await store.claim_activity(spec(served))
    second = await store.claim_activity(spec(served))
    assert await store.claim_activity(spec(served)) is None  # both are leased now
    assert first is not None and second is not None
    assert sorted([first.task_id, second.task_id]) == [0, 1]
    assert (first.attempt, first.worker_id, first.name) == (1, W1, "act")
    uses_json = any("json_each" in s for s in statements if s.startswith("UPDATE activities"))
    assert uses_json == (names > activities.MAX_LISTED)
    assert await store.claim_activity(spec(frozenset({"nothing-scheduled"}))) is None
