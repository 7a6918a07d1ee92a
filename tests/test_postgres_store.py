"""PostgreSQL specifics: URLs, schemas that are not ours, migrations racing, LISTEN/NOTIFY
across store objects, and surviving dropped connections and a restarted server.

The conformance suite (test_store_conformance.py) covers the Store guarantees themselves.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from itertools import count

import anyio
import asyncpg
import pytest

from durable._errors import ConfigurationError, StoreError
from durable._events import EventRaised, ExecutionCompleted, ExecutionStarted
from durable._status import Status
from durable.stores import open_store
from durable.stores.base import (
    ClaimSpec,
    EpisodeCommit,
    LeaseLost,
    NewInstance,
    OrchestrationWorkItem,
    Store,
    WorkKind,
)
from durable.stores.postgres import instances
from durable.stores.postgres.store import PostgresStore, parse_url

from .pg_server import PostgresServer

SPEC = ClaimSpec("w", 30.0, frozenset({"orch"}), frozenset({"act"}))
_schemas = count()


@pytest.fixture
def url(pg_server: PostgresServer) -> str:
    return f"{pg_server.url}?schema=pg{next(_schemas)}"


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Store]:
    store = open_store(url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def query(url: str, sql: str, *args: object) -> object:
    dsn, _ = parse_url(url, url)
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


# -- URLs ---------------------------------------------------------------------------------------


def test_postgres_urls_give_a_postgres_store_without_the_password() -> None:
    for url in ("postgresql://ada:s3cret@db.example/app", "postgres://ada:s3cret@db/app"):
        store = open_store(url)
        assert isinstance(store, PostgresStore)
        assert "s3cret" not in store.display_url and "s3cret" not in repr(store)


def test_our_options_are_taken_off_the_url_and_the_rest_kept() -> None:
    dsn, options = parse_url(
        "postgres://u@h:5/db?schema=app_1&sslmode=disable&pool_size=3&retry_seconds=2.5", "u"
    )
    assert dsn == "postgresql://u@h:5/db?sslmode=disable"
    assert options["schema"] == "app_1" and options["pool_size"] == 3
    assert options["retry_seconds"] == 2.5


@pytest.mark.parametrize(
    ("query_string", "message"),
    [
        ("pool_size=many", "pool_size='many' must be a int"),
        ("pool_size=0", "pool_size must be positive"),
        ("retry_seconds=-1", "retry_seconds must be positive"),
    ],
)
def test_bad_options_are_named(query_string: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        open_store(f"postgresql://u:pw@h/db?{query_string}")


@pytest.mark.parametrize("schema", ["Upper", "1st", "a-b", "x" * 64, "a;drop"])
def test_unsafe_schema_names_are_refused(schema: str) -> None:
    with pytest.raises(StoreError, match="schema="):
        open_store(f"postgresql://u@h/db?schema={schema}")


async def test_an_unreachable_server_is_a_store_error_naming_the_url_not_the_password() -> None:
    started = time.monotonic()
    store = open_store("postgresql://ada:s3cret@127.0.0.1:1/db?connect_timeout=1")
    with pytest.raises(StoreError) as info:
        await store.open()
    message = str(info.value)
    assert "cannot open the store" in message and "127.0.0.1:1" in message
    assert "s3cret" not in message
    assert time.monotonic() - started < 20


async def test_an_unknown_database_is_a_store_error(pg_server: PostgresServer) -> None:
    url = pg_server.url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(StoreError, match="no_such_database"):
        async with opened(url):
            pass


# -- schemas ------------------------------------------------------------------------------------


async def test_tables_live_in_their_own_schema(url: str) -> None:
    async with opened(url) as store:
        assert await store.create_instance(NewInstance("i", "orch", "1"))
    schema = url.rsplit("=", 1)[1]
    tables = await query(
        url,
        "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables "
        "WHERE table_schema = $1",
        schema,
    )
    assert tables == (
        "activities,history,inbox,instances,queue_starts,queue_turns,schedules,schema_version,"
        "streams,tags,traces,update_results,workers"
    )


async def test_a_schema_holding_other_tables_is_refused_untouched(url: str) -> None:
    schema = url.rsplit("=", 1)[1]
    await query(url, f"CREATE SCHEMA {schema}")
    await query(url, f"CREATE TABLE {schema}.orders (id int)")
    with pytest.raises(StoreError, match="not durable's: it holds other tables \\(orders\\)"):
        async with opened(url):
            pass
    tables = await query(
        url, "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", schema
    )
    assert tables == 1


async def test_a_newer_schema_is_refused(url: str) -> None:
    async with opened(url):
        pass
    schema = url.rsplit("=", 1)[1]
    await query(url, f"UPDATE {schema}.schema_version SET version = 99")
    with pytest.raises(StoreError, match="version 99, newer than this version of durable"):
        async with opened(url):
            pass


async def test_stores_opening_at_once_migrate_once(url: str) -> None:
    stores = [open_store(url) for _ in range(6)]
    try:
        async with anyio.create_task_group() as group:
            for store in stores:
                group.start_soon(store.open)
        assert await stores[0].create_instance(NewInstance("i", "orch", "1"))
        for store in stores:
            record = await store.get_instance("i")
            assert record is not None and record.status is Status.PENDING
    finally:
        for store in stores:
            await store.close()
    schema = url.rsplit("=", 1)[1]
    assert await query(url, f"SELECT count(*) FROM {schema}.schema_version") == 1


# -- wake-ups across store objects (as across hosts) ---------------------------------------------


def elsewhere(url: str) -> str:
    """The same database under another URL: store objects of one process on one URL wake each
    other directly, and on different URLs only through LISTEN/NOTIFY, as across processes."""
    return f"{url}&sslmode=disable"


async def test_a_create_through_another_store_object_wakes_a_waiting_worker(url: str) -> None:
    async with opened(url) as worker_side, opened(elsewhere(url)) as client_side:
        woke = anyio.Event()

        async def wait() -> None:
            await worker_side.wait_for_work(30.0)
            woke.set()

        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            await anyio.sleep(0.2)  # the waiter is parked (a notification now must wake it)
            started = time.monotonic()
            await client_side.create_instance(NewInstance("i", "orch", "1"))
            with anyio.fail_after(10):
                await woke.wait()
            assert time.monotonic() - started < 5  # a notification, not the 30 s timeout
        assert await worker_side.claim_orchestration(SPEC) is not None


@pytest.mark.parametrize("where", ["here", "elsewhere"])
async def test_work_of_one_kind_leaves_waiters_for_the_other_asleep(url: str, where: str) -> None:
    # a start wakes orchestration claimers (and any-kind waiters), not activity claimers
    async with opened(url) as waiting, opened(url if where == "here" else elsewhere(url)) as other:
        woke: dict[str, float] = {}

        async def wait(kind: WorkKind | None, timeout: float) -> None:
            began = time.monotonic()
            await waiting.wait_for_work(timeout, kind)
            woke[str(kind)] = time.monotonic() - began

        async with anyio.create_task_group() as group:
            group.start_soon(wait, "orchestrations", 30.0)
            group.start_soon(wait, None, 30.0)
            group.start_soon(wait, "activities", 1.0)
            await anyio.sleep(0.2)  # all parked
            await other.create_instance(NewInstance("i", "orch", "1"))
        assert woke["orchestrations"] < 5 and woke["None"] < 5  # woken, not timed out
        assert woke["activities"] >= 0.9  # slept to its timeout


async def test_a_status_change_through_another_store_object_wakes_a_client(url: str) -> None:
    async with opened(url) as client_side, opened(elsewhere(url)) as other:
        await other.create_instance(NewInstance("i", "orch", "1"))
        woke = anyio.Event()

        async def wait() -> None:
            await client_side.wait_for_instance("i", 30.0)
            woke.set()

        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            await anyio.sleep(0.2)
            await other.send_message("i", EventRaised(name="e", payload="1"))
            item = await other.claim_orchestration(SPEC)
            assert item is not None
            await other.release_orchestration("i", "w", error=None)
            # a release without a status change wakes no instance waiter; a terminate does
            await _finish(other, "i")
            with anyio.fail_after(10):
                await woke.wait()


async def _finish(store: Store, instance_id: str) -> None:
    item = await store.claim_orchestration(SPEC)
    assert item is not None
    started = next(m.event for m in item.messages if isinstance(m.event, ExecutionStarted))
    events = [
        ExecutionStarted(seq=0, timestamp=item.now, name=started.name, input=started.input),
        ExecutionCompleted(seq=1, timestamp=item.now, output="2"),
    ]
    await store.commit_episode(
        EpisodeCommit(
            instance_id,
            "w",
            item.execution_id,
            item.version,
            events,
            [],
            [m.id for m in item.messages],
            Status.COMPLETED,
            output="2",
        )
    )


# -- failures -----------------------------------------------------------------------------------


async def test_killed_connections_are_replaced_and_the_listener_comes_back(
    url: str, pg_server: PostgresServer
) -> None:
    async with opened(url) as store, opened(url) as other:
        assert await store.create_instance(NewInstance("a", "orch", "1"))
        killed = await query(
            url,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'durable' AND pid <> pg_backend_pid()",
        )
        assert killed >= 2  # the pools' connections and both listeners
        # the next operations run on fresh connections, invisibly to the caller
        assert await store.create_instance(NewInstance("b", "orch", "1"))
        assert (await other.get_instance("b")) is not None
        # and wake-ups flow again once the listener reconnected
        with anyio.fail_after(20):
            while True:
                woke = anyio.Event()

                async def wait(woke: anyio.Event = woke) -> None:
                    await store.wait_for_work(2.0)
                    woke.set()

                async with anyio.create_task_group() as group:
                    group.start_soon(wait)
                    await anyio.sleep(0.1)
                    started = time.monotonic()
                    await other.create_instance(NewInstance(f"c{time.monotonic_ns()}", "o", "1"))
                    await woke.wait()
                if time.monotonic() - started < 1.0:
                    break


async def test_a_restarted_server_is_survived_and_an_outage_past_the_budget_is_named() -> None:
    with PostgresServer() as server:
        url = f"{server.url}?retry_seconds=20"
        async with opened(url) as store:
            assert await store.create_instance(NewInstance("before", "orch", "1"))
            server.restart("immediate")
            assert await store.create_instance(NewInstance("after", "orch", "1"))
            assert (await store.get_instance("before")) is not None
            server.stop("fast")
            short = open_store(f"{server.url}?connect_timeout=1")
            with pytest.raises(StoreError, match="cannot open the store"):
                await short.open()
            async with anyio.create_task_group() as group:
                # an operation during a short outage waits for the server and succeeds
                async def create() -> None:
                    assert await store.create_instance(NewInstance("during", "orch", "1"))

                group.start_soon(create)
                await anyio.sleep(1.0)
                await anyio.to_thread.run_sync(server.start)
            assert (await store.get_instance("during")) is not None


async def test_a_create_whose_commit_was_acknowledged_late_is_not_a_duplicate(url: str) -> None:
    # the token check: rerunning the same create (as a retry after a lost acknowledgement
    # does) finds its own row and reports success, while another create of the id fails
    async with opened(url) as store:
        assert isinstance(store, PostgresStore)
        new = NewInstance("i", "orch", "1")

        async def create(token: str) -> bool:
            [(created, _)] = await store._db.run(
                lambda tx: instances.insert_instances(tx, [instances.Creation(new, token)]), "t"
            )
            return created

        assert await create("token-1")
        assert await create("token-1")
        assert not await create("token-2")
        assert len(await store.get_history("i")) == 0


# -- many operations in one statement ------------------------------------------------------------


def first_episode(item: OrchestrationWorkItem) -> EpisodeCommit:
    """The commit of a new instance's first episode that only records its start (by SPEC)."""
    (message,) = item.messages
    return EpisodeCommit(
        instance_id=item.instance_id,
        worker_id=SPEC.worker_id,
        execution_id=1,
        expected_version=0,
        events=[dataclasses.replace(message.event, seq=0)],
        actions=(),
        consumed=[message.id],
        status=Status.RUNNING,
    )


def _counting(store: PostgresStore, batcher: str) -> list[int]:
    """Record the size of every batch ``store``'s ``batcher`` runs."""
    sizes: list[int] = []
    batched = getattr(store, batcher)
    real = batched._run

    async def run(values: list[object]) -> object:
        sizes.append(len(values))
        return await real(values)

    batched._run = run
    return sizes


async def test_concurrent_starts_and_reads_share_statements(url: str) -> None:
    async with opened(url) as store:
        assert isinstance(store, PostgresStore)
        creates, reads = _counting(store, "_creating"), _counting(store, "_reading")
        ids = [f"i-{n}" for n in range(40)]
        results: dict[str, object] = {}

        async def start_and_read(instance_id: str) -> None:
            assert await store.create_instance(NewInstance(instance_id, "orch", "1"))
            results[instance_id] = await store.get_instance(instance_id)

        async with anyio.create_task_group() as tg:
            for instance_id in ids:
                tg.start_soon(start_and_read, instance_id)
        assert sum(creates) == 40 and len(creates) < 40
        assert sum(reads) == 40 and len(reads) < 40
        assert all(getattr(results[i], "instance_id", None) == i for i in ids)
        assert await store.get_instance("missing") is None


async def test_a_split_brain_in_a_shared_commit_loses_only_its_own_episode(url: str) -> None:
    # a history row written behind the guard's back (another worker's, in a split brain) fails
    # the statement the concurrent commits share: each is then committed alone
    async with opened(url) as store:
        assert isinstance(store, PostgresStore)
        sizes = _counting(store, "_committing")
        for n in range(6):
            assert await store.create_instance(NewInstance(f"i-{n}", "orch", "1"))
        items = [await store.claim_orchestration(SPEC) for _ in range(6)]
        await query(
            url,
            f"INSERT INTO {url.rsplit('=', 1)[1]}.history VALUES ('i-2', 0, 'x', '{{}}')",
        )
        outcomes: dict[str, str] = {}

        async def commit(item: OrchestrationWorkItem | None) -> None:
            assert item is not None
            episode = first_episode(item)
            try:
                await store.commit_episode(episode)
                outcomes[episode.instance_id] = "ok"
            except LeaseLost as exc:
                assert "i-2" in str(exc)
                outcomes[episode.instance_id] = "lost"

        async with anyio.create_task_group() as tg:
            for item in items:
                tg.start_soon(commit, item)
        assert outcomes.pop("i-2") == "lost" and set(outcomes.values()) == {"ok"}
        assert max(sizes) > 1  # they did share a statement first
        assert [e.kind for e in await store.get_history("i-3")] == ["ExecutionStarted"]


async def test_starts_with_their_first_episodes_share_one_statement(url: str) -> None:
    # a client and a worker in one process: concurrent starts create their instances with
    # their first episodes in one statement (``postgres.start_commit``)
    async with opened(url) as store:
        assert isinstance(store, PostgresStore)
        assert await store.create_instance(NewInstance("taken", "orch", "0"))
        sizes = _counting(store, "_starting")
        ids = [f"s-{n}" for n in range(6)] + ["taken"]
        results: dict[str, object] = {}

        async def start(instance_id: str) -> None:
            started = ExecutionStarted(name="orch", input="1")
            first = EpisodeCommit(
                instance_id=instance_id,
                worker_id=SPEC.worker_id,
                execution_id=1,
                expected_version=0,
                events=[dataclasses.replace(started, seq=0)],
                actions=(),
                consumed=[],
                status=Status.RUNNING,
            )
            new = NewInstance(instance_id, "orch", "1")
            results[instance_id] = await store.start_instance(new, first, eager=SPEC)

        async with anyio.create_task_group() as tg:
            for instance_id in ids:
                tg.start_soon(start, instance_id)
        assert results.pop("taken") is None
        assert all(r == [] for r in results.values())
        assert max(sizes) > 1
        for instance_id in results:
            record = await store.get_instance(instance_id)
            assert record is not None and (record.status, record.version) == (Status.RUNNING, 1)
        other = ClaimSpec("other", 30.0, frozenset({"orch"}))
        claimed = await store.claim_orchestration(other)
        assert claimed is not None and claimed.instance_id == "taken"  # only it waits
