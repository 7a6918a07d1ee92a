"""PostgreSQL's one-statement starts and steps (``postgres.start_commit``, ``step_commit``).

The conformance suite covers what every store guarantees about ``start_instance`` and
``complete_activity`` with ``then``; here, what is PostgreSQL's own: concurrent calls share one
statement, a child's end takes the transaction, and a start rerun after a lost
acknowledgement finds its own row.
"""

from __future__ import annotations

import dataclasses

import anyio

from durable._actions import Complete
from durable._events import (
    ActivityCompleted,
    ExecutionCompleted,
    ExecutionStarted,
    HistoryEvent,
)
from durable._status import Status
from durable.stores.base import ActivityWorkItem, EpisodeCommit, NewInstance
from durable.stores.commit import plan_commit
from durable.stores.postgres import start_commit
from durable.stores.postgres.store import PostgresStore

from .test_postgres_store import _counting, opened, url  # noqa: F401 (the fixture)
from .test_store_conformance import W1, activity, claim, commit, scheduled, spec


def first_episode(instance_id: str) -> EpisodeCommit:
    """A start's first episode: activity 0 scheduled."""
    events = [ExecutionStarted(name="orch", input="1"), scheduled(0)]
    return EpisodeCommit(
        instance_id=instance_id,
        worker_id=W1,
        execution_id=1,
        expected_version=0,
        events=[dataclasses.replace(e, seq=i) for i, e in enumerate(events)],
        actions=(activity(0),),
        consumed=[],
        status=Status.RUNNING,
    )


def after(item: ActivityWorkItem, version: int, *, last: bool) -> EpisodeCommit:
    """The episode after ``item``'s result: the next activity, or the run's end."""
    events: list[HistoryEvent] = [ActivityCompleted(task_id=item.task_id, result="2")]
    events.append(ExecutionCompleted(output="2") if last else scheduled(item.task_id + 1))
    return EpisodeCommit(
        instance_id=item.instance_id,
        worker_id=W1,
        execution_id=item.execution_id,
        expected_version=version,
        events=[dataclasses.replace(e, seq=version + i) for i, e in enumerate(events)],
        actions=(Complete("2"),) if last else (activity(item.task_id + 1),),
        consumed=[],
        status=Status.COMPLETED if last else Status.RUNNING,
    )


async def test_concurrent_steps_share_one_statement(url: str) -> None:  # noqa: F811
    async with opened(url) as store:
        assert isinstance(store, PostgresStore)
        ids = [f"s-{n}" for n in range(6)]
        attempts: dict[str, ActivityWorkItem] = {}
        for instance_id in ids:
            new = NewInstance(instance_id, "orch", "1")
            [item] = await store.start_instance(  # type: ignore[misc]
                new, first_episode(instance_id), eager=spec(), eager_limit=1
            )
            attempts[instance_id] = item
        sizes = _counting(store, "_stepping")
        leased: dict[str, list[ActivityWorkItem] | None] = {}

        async def step(instance_id: str) -> None:
            item = attempts[instance_id]
            then = after(item, 2, last=False)
            done, eager = await store.complete_activity(
                item, "2", then=then, eager=spec(), eager_limit=1
            )
            assert done
            leased[instance_id] = eager

        async with anyio.create_task_group() as tg:
            for instance_id in ids:
                tg.start_soon(step, instance_id)
        assert max(sizes) > 1
        for instance_id in ids:
            eager = leased[instance_id]
            assert eager is not None and [(a.task_id, a.worker_id) for a in eager] == [(1, W1)]
            kinds = [e.kind for e in await store.get_history(instance_id)]
            assert kinds[2:] == ["ActivityCompleted", "ActivityScheduled"]
        assert await store.claim_orchestration(spec()) is None  # no result went to an inbox


async def test_a_childs_last_step_is_declined_and_tells_its_parent(url: str) -> None:  # noqa: F811
    # the one statement cannot tell a parent: it writes nothing, and the transaction does it
    async with opened(url) as store:
        assert isinstance(store, PostgresStore)
        assert await store.create_instance(NewInstance("parent", "orch", "0"))
        await commit(store, await claim(store))
        child = NewInstance("child", "orch", "1", parent_instance_id="parent", parent_task_id=7)
        assert await store.create_instance(child)
        await commit(store, await claim(store), scheduled(0), actions=(activity(0),))
        item = await store.claim_activity(spec())
        assert item is not None
        sizes = _counting(store, "_stepping")
        done, eager = await store.complete_activity(
            item, "2", then=after(item, 2, last=True), eager=spec()
        )
        assert (done, eager, sizes) == (True, [], [1])
        record = await store.get_instance("child")
        assert record is not None and (record.status, record.output) == (Status.COMPLETED, "2")
        told = await claim(store)
        assert told.instance_id == "parent"
        assert [m.event.kind for m in told.messages] == ["SubOrchestrationCompleted"]


async def test_a_start_rerun_after_a_lost_acknowledgement_finds_its_own_row(
    url: str,  # noqa: F811
) -> None:
    async with opened(url) as store:
        assert isinstance(store, PostgresStore)
        new, first = NewInstance("i", "orch", "1"), first_episode("i")
        plan = plan_commit(first, now=None, instance=None, eager=spec(), eager_limit=1)

        async def start(token: str) -> list[ActivityWorkItem] | None:
            [started] = await store._db.run(
                lambda tx: start_commit.start_many(
                    tx, [start_commit.Start(new, first, plan, token)], {}
                ),
                "t",
            )
            return started

        first_try = await start("token-1")
        assert first_try is not None and [a.task_id for a in first_try] == [0]
        assert await start("token-1") == []  # its own: created, nothing handed over twice
        assert await start("token-2") is None  # another start of the id
        assert [e.kind for e in await store.get_history("i")] == [
            "ExecutionStarted",
            "ActivityScheduled",
        ]
