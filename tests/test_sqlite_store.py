"""SQLite specifics: pragmas, files that are not ours, locks held by others, URLs, memory://."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import anyio
import pytest

from durable._errors import ConfigurationError, StoreError
from durable.stores import open_store, redact
from durable.stores.base import NewInstance, Store
from durable.stores.sqlite import schema as sqlite_schema
from durable.stores.sqlite.store import SQLiteStore

NEW = NewInstance("i-1", "orch", "1")


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Store]:
    store = open_store(url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def url_of(path: Path, query: str = "") -> str:
    return f"sqlite:///{path}{query}"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def pragma(store: Store, name: str) -> object:
    assert isinstance(store, SQLiteStore)
    return await store._db.read(lambda conn, _: conn.execute(f"PRAGMA {name}").fetchone()[0], "t")


# -- pragmas and sharing ------------------------------------------------------------------------


async def test_wal_and_synchronous_full_by_default(tmp_path: Path) -> None:
    async with opened(url_of(tmp_path / "a.db")) as store:
        assert await pragma(store, "journal_mode") == "wal"
        assert await pragma(store, "synchronous") == 2  # FULL
        assert await pragma(store, "foreign_keys") == 0


async def test_synchronous_normal_from_the_url(tmp_path: Path) -> None:
    async with opened(url_of(tmp_path / "a.db", "?synchronous=normal")) as store:
        assert await pragma(store, "synchronous") == 1  # NORMAL


async def test_two_store_objects_on_one_file_share_data_and_wake_each_other(tmp_path: Path) -> None:
    url = url_of(tmp_path / "shared.db")
    async with opened(url) as writer, opened(url) as waiter:
        assert writer is not waiter
        elapsed: list[float] = []

        async def wait() -> None:
            start = time.monotonic()
            await waiter.wait_for_work(10)
            elapsed.append(time.monotonic() - start)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.sleep(0.05)
            assert await writer.create_instance(NEW)
        assert elapsed[0] < 1.0
        record = await waiter.get_instance("i-1")
        assert record is not None and record.input == "1"


async def test_creates_from_two_connections_one_wins(tmp_path: Path) -> None:
    url = url_of(tmp_path / "race.db")
    results: list[bool] = []
    async with opened(url) as one, opened(url) as two:

        async def attempt(store: Store, n: int) -> None:
            results.append(await store.create_instance(NewInstance("dup", "orch", str(n))))

        async with anyio.create_task_group() as tg:
            for n in range(50):
                tg.start_soon(attempt, one if n % 2 else two, n)
    assert sorted(results) == [False] * 49 + [True]


async def test_reopening_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    for _ in range(2):
        async with opened(url_of(path)) as store:
            await store.create_instance(NEW)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM durable_schema_version").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM instances").fetchone() == (1,)
    conn.close()


# -- files that are not ours -------------------------------------------------------------------


async def test_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    async with opened(url_of(path)) as store:
        await store.create_instance(NEW)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE durable_schema_version SET version = 99")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(StoreError, match="schema version 99") as info:
        async with opened(url_of(path)):
            pass
    assert str(path) in str(info.value)
    assert digest(path) == before


async def test_another_applications_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(StoreError, match="not a durable database") as info:
        async with opened(url_of(path)):
            pass
    assert str(path) in str(info.value) and "users" in str(info.value)
    assert digest(path) == before
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()


async def test_a_garbage_file_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(os.urandom(8192))
    before = digest(path)
    with pytest.raises(StoreError, match="not a database") as info:
        async with opened(url_of(path)):
            pass
    assert str(path) in str(info.value)
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)
    assert digest(path) == before


async def test_a_zero_byte_file_becomes_a_new_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    async with opened(url_of(path)) as store:
        assert await store.create_instance(NEW)


async def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "dir" / "a.db"
    with pytest.raises(StoreError, match="does not exist") as info:
        async with opened(url_of(path)):
            pass
    assert str(path) in str(info.value)


async def test_a_file_in_place_of_the_directory_is_named(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a directory")
    path = tmp_path / "plain" / "a.db"
    with pytest.raises(StoreError, match="not a directory") as info:
        async with opened(url_of(path)):
            pass
    assert str(path) in str(info.value)


@contextmanager
def unwritable(directory: Path) -> Iterator[None]:
    """Make ``directory`` unwritable: mode 0555, and for root (whom modes do not stop, as in CI)
    a read-only bind mount of it."""
    directory.chmod(0o555)
    mounted = False
    try:
        if os.geteuid() == 0:
            for command in (["mount", "--bind"], ["mount", "-o", "remount,bind,ro"]):
                subprocess.run([*command, str(directory), str(directory)], check=True)
                mounted = True
        yield
    finally:
        if mounted:
            subprocess.run(["umount", str(directory)], check=True)
        directory.chmod(0o755)


async def test_an_unwritable_directory_is_named(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    with unwritable(locked), pytest.raises(StoreError, match="not writable") as info:
        async with opened(url_of(locked / "a.db")):
            pass
    assert str(locked) in str(info.value)


# -- locks held by others ----------------------------------------------------------------------


@contextmanager
def exclusive_lock(path: Path, seconds: float) -> Iterator[None]:
    """Another connection holds ``BEGIN EXCLUSIVE`` for ``seconds``, from a thread."""
    locked = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    locked.wait()
    try:
        yield
    finally:
        thread.join()


async def test_a_short_exclusive_lock_is_waited_out(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    async with opened(url_of(path)) as store:
        with exclusive_lock(path, 1.0):
            start = time.monotonic()
            assert await store.create_instance(NEW)
            assert time.monotonic() - start > 0.5
        assert await store.get_instance("i-1") is not None


async def test_a_held_lock_is_waited_for_off_the_event_loop(tmp_path: Path) -> None:
    # operations run on the loop, but waiting for another process's lock must not block it
    path = tmp_path / "busy.db"
    async with opened(url_of(path)) as store:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await anyio.sleep(0.01)
                ticks += 1

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(tick)
            with exclusive_lock(path, 1.0):
                created: list[bool] = []

                async def create(instance_id: str) -> None:
                    created.append(await store.create_instance(NewInstance(instance_id, "o", "1")))

                async with anyio.create_task_group() as writers:
                    writers.start_soon(create, "i-1")
                    writers.start_soon(create, "i-2")  # queued behind the first, off the loop
                assert created == [True, True]
                assert ticks >= 10, f"the event loop ran {ticks} times in a second"
            tasks.cancel_scope.cancel()
        assert await store.get_instance("i-2") is not None
        assert await store.create_instance(NewInstance("i-3", "o", "1"))  # back on the loop


async def test_a_lock_held_past_the_budget_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    async with opened(url_of(path, "?busy_timeout=0.1")) as store:
        with exclusive_lock(path, 1.5):
            with pytest.raises(StoreError, match="locked") as info:
                await store.create_instance(NEW)
            assert str(path) in str(info.value) and "create_instance" in str(info.value)
        assert await store.create_instance(NEW)  # and it works again afterwards


async def test_cancelled_writers_do_not_strand_the_others(tmp_path: Path) -> None:
    async with opened(url_of(tmp_path / "a.db")) as store:
        created: list[int] = []

        async def create(n: int, cancel_after: float | None) -> None:
            with anyio.CancelScope() as scope:
                if cancel_after is not None:
                    scope.deadline = anyio.current_time() + cancel_after
                if await store.create_instance(NewInstance(f"i-{n}", "orch", "1")):
                    created.append(n)

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for n in range(300):
                    tg.start_soon(create, n, 0.0005 * (n % 7) if n % 3 == 0 else None)
        survivors = {n for n in range(300) if n % 3}
        assert survivors <= set(created)
        for n in range(300):  # every call that returned True wrote its instance
            exists = await store.get_instance(f"i-{n}") is not None
            assert exists or n not in created


# -- URLs and memory:// ------------------------------------------------------------------------


def test_relative_and_absolute_sqlite_urls() -> None:
    relative = open_store("sqlite:///data/app.db")
    assert isinstance(relative, SQLiteStore)
    assert relative._db.path == "data/app.db"
    assert relative.display_url == "sqlite:///data/app.db"
    absolute = open_store("sqlite:////var/lib/app.db?synchronous=normal")
    assert isinstance(absolute, SQLiteStore)
    assert absolute._db.path == "/var/lib/app.db"
    assert absolute._db.synchronous == "NORMAL"


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///", "sqlite:///a.db?synchronous=off", "sqlite:///a.db?mode=ro"],
)
def test_bad_sqlite_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        open_store(url)


def test_an_unknown_scheme_lists_the_accepted_forms_without_the_password() -> None:
    with pytest.raises(ConfigurationError) as info:
        open_store("mysql://ada:s3cret@db.example/app?password=s3cret")
    message = str(info.value)
    assert "s3cret" not in message and "mysql://ada:***@db.example" in message
    for form in ("sqlite:///", "sqlite:////", "memory://", "postgresql://"):
        assert form in message
    with pytest.raises(ConfigurationError, match="unsupported store URL"):
        open_store("shop.db")


def test_redact() -> None:
    assert redact("postgresql://u:p@ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
    assert redact("sqlite:///a.db") == "sqlite:///a.db"


def test_a_store_object_is_passed_through() -> None:
    store = SQLiteStore(":memory:")
    assert open_store(store) is store


async def test_a_named_memory_store_is_shared_while_open() -> None:
    first = open_store("memory://shared-test")
    assert open_store("memory://shared-test") is first
    assert open_store("memory://other-test") is not first
    assert open_store("memory://") is not open_store("memory://")
    await first.open()
    second = open_store("memory://shared-test")
    await second.open()
    assert second is first
    assert await first.create_instance(NEW)
    await first.close()  # one holder left: still open
    assert await second.get_instance("i-1") is not None
    await second.close()
    fresh = open_store("memory://shared-test")
    assert fresh is not first
    await fresh.open()
    try:
        assert await fresh.get_instance("i-1") is None
    finally:
        await fresh.close()
    await fresh.close()  # idempotent


async def test_a_closed_store_says_so() -> None:
    store = open_store("memory://")
    with pytest.raises(StoreError, match="not open"):
        await store.get_instance("i-1")


def test_aiosqlite_still_has_the_hook_the_store_uses() -> None:
    """The store runs a whole transaction in aiosqlite's thread with the private
    ``Connection._execute`` (there is no public way); an aiosqlite upgrade that drops it must
    fail here, loudly, rather than in production."""
    import inspect

    import aiosqlite

    hook = getattr(aiosqlite.Connection, "_execute", None)
    assert hook is not None and inspect.iscoroutinefunction(hook)
    assert list(inspect.signature(hook).parameters)[:2] == ["self", "fn"]


# -- waking waiters for commits of other processes ---------------------------------------------


async def test_an_instance_finished_by_another_process_wakes_its_waiters(tmp_path: Path) -> None:
    # another process's commit reaches no in-process wake-up: the store's shared status poll
    # must see it, for every waiter at once
    path = tmp_path / "a.db"
    async with opened(url_of(path)) as store:
        for n in range(3):
            await store.create_instance(NewInstance(f"i-{n}", "orch", "1"))
        woken: dict[str, float] = {}

        async def wait(instance_id: str) -> None:
            start = time.monotonic()
            await store.wait_for_instance(instance_id, 30)
            woken[instance_id] = time.monotonic() - start

        async with anyio.create_task_group() as waiters:
            for n in range(3):
                waiters.start_soon(wait, f"i-{n}")
            await anyio.sleep(0.1)
            assert woken == {}  # nothing changed yet: nobody returns early
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("UPDATE instances SET status = 'COMPLETED' WHERE instance_id != 'i-2'")
            other.close()
            with anyio.fail_after(5):
                while len(woken) < 2:
                    await anyio.sleep(0.01)
            assert sorted(woken) == ["i-0", "i-1"]
            waiters.cancel_scope.cancel()
        assert all(seconds < 5 for seconds in woken.values())


# -- migrations ---------------------------------------------------------------------------------


async def test_a_version_1_database_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in sqlite_schema.MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute(f"INSERT INTO {sqlite_schema.VERSION_TABLE} VALUES (1, 0)")
    conn.close()
    async with opened(url_of(path)) as store:
        assert await store.create_instance(NEW)
        assert await store.get_instance("i-1") is not None
    conn = sqlite3.connect(path)
    version = conn.execute(f"SELECT version FROM {sqlite_schema.VERSION_TABLE}").fetchone()
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    conn.close()
    assert version == (sqlite_schema.SCHEMA_VERSION,)
    assert "instances_lease" not in indexes and "activities_lease" not in indexes
    assert "inbox_visible" in indexes
