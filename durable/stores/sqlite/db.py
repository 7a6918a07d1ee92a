"""The SQLite connection: one connection, group commit, busy handling, error mapping.

Every operation is a plain function run whole against the connection, on the event loop's own
thread. A transaction there blocks the loop for its fsync (a fraction of a millisecond on an SSD),
which costs less than the two thread hops per operation of running it in aiosqlite's thread: on
the benchmarks, a third off the latency of a step. Only waiting is kept off the loop: the
connection never waits for SQLite's write lock on the loop (its busy timeout is 0 there); an
operation that finds the lock held (another process is writing) runs again in aiosqlite's thread,
which waits up to ``busy_timeout``, and every operation submitted meanwhile queues behind it there.

Writes are group-committed: operations submitted while a transaction is running (or before the
leader's next turn of the loop) run together in the next ``BEGIN IMMEDIATE`` transaction, each in
its own savepoint (a refused operation, e.g. ``LeaseLost``, rolls back alone). One fsync then
covers many episodes, which is what makes ``synchronous=FULL`` affordable. A caller's result is
handed back only after its transaction committed.

The first waiting caller leads: it runs batches until its own operation is done, then hands the
lead to the next waiting caller. No background task is needed, and a cancelled caller never
strands the others: a batch once taken runs to its end (on the loop it has no await to cancel;
one that waits for the lock in the thread is shielded), and an operation cancelled before its
batch was taken (a follower's, or the leader's during its turn of the loop) is withdrawn.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import aiosqlite
import anyio

from ... import _faults as faults
from ..._errors import DurableError, StoreError
from .. import hub as _hub
from ..retrying import retried
from .rows import Tx
from .schema import SCHEMA_VERSION, check_database, migrate

if TYPE_CHECKING:
    import tenacity

T = TypeVar("T")

#: at most this many operations share one transaction (keeps transactions short)
MAX_BATCH = 128
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def clock() -> float:
    """The store's clock: unix seconds, to the microsecond (so that datetimes round-trip)."""
    return round(faults.wall_clock(), 6)


def is_busy(exc: BaseException) -> bool:
    """True for SQLite's "database is locked/busy": another connection holds the write lock."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _BUSY_CODES:
        return True
    text = str(exc)
    return "locked" in text or "busy" in text


def store_error(where: str, what: str, exc: BaseException) -> StoreError:
    """The one mapping of a driver error: ``StoreError("<url>: <what>: <cause>")`` from it."""
    cause = str(exc) or type(exc).__name__
    if is_busy(exc):
        cause += " (another connection held the write lock past the retry budget)"
    elif "readonly" in cause:
        cause += " (the file or its directory is read-only)"
    error = StoreError(f"{where}: {what}: {cause}")
    error.__cause__ = exc
    return error


def _open_hint(path: str) -> str:
    """Why a file may not open, when the file system tells (sqlite's message does not)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(directory):
        return f" (directory {directory} does not exist)"
    if not os.path.isdir(directory):
        return f" ({directory} is not a directory)"
    if not os.access(directory, os.W_OK):
        return f" (directory {directory} is not writable)"
    return ""


@dataclass(eq=False, slots=True)
class _Op(Generic[T]):
    """One submitted write operation and its outcome."""

    fn: Callable[[Tx], T]
    what: str
    #: set when the operation finished or leads; only a follower waits on it (made on demand)
    done: anyio.Event | None = None
    result: Any = None
    error: BaseException | None = None
    tx: Tx | None = None
    lead: bool = False
    taken: bool = False
    finished: bool = False


class Database:
    """One SQLite database file (or ``:memory:``) behind one aiosqlite connection."""

    def __init__(self, path: str, where: str, *, synchronous: str, busy_timeout: float) -> None:
        self.path = path
        self.where = where
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.work_key = f"memory:{id(self)}" if path == ":memory:" else os.path.abspath(path)
        self._aio: aiosqlite.Connection | None = None
        self._raw: sqlite3.Connection | None = None
        self._open_error: sqlite3.Error | None = None
        self._call: Callable[..., Awaitable[Any]] | None = None
        self._pending: list[_Op[Any]] = []
        self._leading = False
        #: operations running or queued in aiosqlite's thread (the loop must not use the
        #: connection meanwhile)
        self._threaded = 0

    def instance_key(self, instance_id: str) -> str:
        """The hub key that ``wait_for_instance`` waits on."""
        return f"{self.work_key}\x00{instance_id}"

    # -- life cycle ----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the file, check it is durable's (or empty), set the pragmas, migrate."""
        if sqlite3.sqlite_version_info < (3, 35, 0):  # RETURNING
            raise StoreError(
                f"{self.where}: SQLite {sqlite3.sqlite_version} is too old; durable needs 3.35+"
            )
        what = "cannot open the database"
        if self.path != ":memory:":
            what += _open_hint(self.path)
        connection = aiosqlite.Connection(self._connect_raw, iter_chunk_size=64)
        await connection
        self._aio = connection
        if self._open_error is not None:
            error, self._open_error = self._open_error, None
            await self.close()
            raise store_error(self.where, what, error) from error
        # aiosqlite's own way of running a function in its thread (it has no public one): the
        # whole transaction then costs one thread hop instead of one per statement.
        self._call = cast(Callable[..., Awaitable[Any]], connection._execute)
        try:
            await self.read(self._prepare, what)
        except BaseException:
            await self.close()
            raise

    def _connect_raw(self) -> sqlite3.Connection:
        try:
            # timeout 0: never wait for the write lock on the loop (see _execute); the
            # connection is made in aiosqlite's thread and used from the loop's too
            raw = sqlite3.connect(
                self.path,
                isolation_level=None,
                timeout=0,
                cached_statements=256,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            # reported by connect() after a normal close: when a connector raises, aiosqlite
            # stops its thread with a future nobody awaits, which can outlive the event loop
            self._open_error = exc
            return sqlite3.connect(":memory:")
        raw.row_factory = sqlite3.Row
        self._raw = raw
        return raw

    def _prepare(self, conn: sqlite3.Connection, now: float) -> None:
        # read-only checks first: a foreign or newer database is refused untouched (even the WAL
        # switch would write its header)
        version = check_database(conn, self.where)
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA foreign_keys=OFF")
        if version < SCHEMA_VERSION:
            migrate(conn, self.where, now)

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        connection, self._aio, self._call, self._raw = self._aio, None, None, None
        if connection is not None:
            with anyio.CancelScope(shield=True):
                await connection.close()

    # -- running operations --------------------------------------------------------------------

    def _retrying(self) -> tenacity.AsyncRetrying:
        # sqlite waits up to busy_timeout itself on each attempt; a couple more attempts ride
        # out a longer lock (a checkpoint, a backup) before giving up; tenacity loads here, on
        # the first busy database, not with every process that opens a store
        import tenacity

        return tenacity.AsyncRetrying(
            stop=tenacity.stop_after_delay(2 * self.busy_timeout) | tenacity.stop_after_attempt(6),
            wait=tenacity.wait_exponential(multiplier=0.05, max=1.0),
            retry=tenacity.retry_if_exception(is_busy),
            sleep=anyio.sleep,
            reraise=True,
        )

    async def _execute(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the loop; in the thread if the write lock is held or others wait there."""
        if self._call is None:
            raise StoreError(f"{self.where}: the store is not open (await store.open() first)")
        # a turn of the loop first: other tasks submit their writes (the batch grows) and a
        # task running operations back to back does not starve the loop
        await asyncio.sleep(0)
        if not self._threaded:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
        self._threaded += 1
        try:
            result: T = await self._call(partial(self._waiting_for_lock, fn))
        finally:
            self._threaded -= 1
        return result

    def _waiting_for_lock(self, fn: Callable[[], T]) -> T:
        """In the thread: ``fn`` with SQLite's busy timeout on (waits for another writer)."""
        assert self._raw is not None
        self._raw.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        try:
            return fn()
        finally:
            self._raw.execute("PRAGMA busy_timeout = 0")

    async def read(self, fn: Callable[[sqlite3.Connection, float], T], what: str) -> T:
        """Run ``fn(connection, now)`` (reads, or a self-contained transaction) in the thread."""

        def call() -> T:
            assert self._raw is not None
            return fn(self._raw, clock())

        try:
            return await retried(partial(self._execute, call), is_busy, self._retrying)
        except (sqlite3.Error, OSError) as exc:
            raise store_error(self.where, what, exc) from exc

    async def write(self, fn: Callable[[Tx], T], what: str) -> T:
        """Run ``fn(tx)`` in a write transaction (shared with concurrent writes); its result."""
        op: _Op[T] = _Op(fn, what)
        self._pending.append(op)
        if self._leading:
            await self._follow(op)
        else:
            self._leading = True
            op.lead = True
        if not op.finished:
            # a turn of the loop first: other tasks submit their writes (the batch grows) and a
            # task running operations back to back does not starve the loop. Cancelled here,
            # the operation has not started: it is withdrawn, like a follower's.
            try:
                await asyncio.sleep(0)  # (aiosqlite, hence this store, runs on asyncio only)
            except BaseException:
                self._pending.remove(op)
                self._hand_over()
                raise
            await self._lead(op)
        return self._outcome(op)

    async def _follow(self, op: _Op[Any]) -> None:
        try:
            op.done = anyio.Event()
            await op.done.wait()
        except BaseException:
            if not op.taken:  # withdraw it; pass the lead on if it had just been handed over
                self._pending.remove(op)
                if op.lead:
                    self._hand_over()
            raise

    async def _lead(self, op: _Op[Any]) -> None:
        try:
            while not op.finished:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                for each in batch:
                    each.taken = True
                if not self._run_on_loop(batch):
                    # taken operations run to the end, whatever happens to this caller
                    with anyio.CancelScope(shield=True):
                        await self._run(batch)
        finally:
            self._hand_over()

    def _run_on_loop(self, batch: list[_Op[Any]]) -> bool:
        """The common case of ``_run`` without an await (so nothing to shield from a cancel,
        whose scope cost a tenth of a step): False, having changed nothing that lasts, when
        the batch must go to the thread (another process holds the write lock, or operations
        queue there) or the store is closed; ``_run`` then runs it."""
        if self._threaded or self._call is None:
            return False
        try:
            self._run_batch(batch)
        except BaseException as exc:
            if is_busy(exc):
                return False
            for op in batch:
                op.error = exc
        self._settle(batch)
        return True

    def _hand_over(self) -> None:
        if self._pending:
            successor = self._pending[0]
            successor.lead = True
            assert successor.done is not None  # it is a follower: it waits on it
            successor.done.set()
        else:
            self._leading = False

    async def _run(self, batch: list[_Op[Any]]) -> None:
        try:
            run = partial(self._execute, partial(self._run_batch, batch))
            await retried(run, is_busy, self._retrying)
        except BaseException as exc:  # the transaction failed as a whole: so did each operation
            for op in batch:
                op.error = exc
        self._settle(batch)

    def _settle(self, batch: list[_Op[Any]]) -> None:
        """The batch ran (committed, or failed): hand each caller its outcome, wake waiters."""
        for op in batch:
            op.finished = True
            if op.done is not None:
                op.done.set()
            if op.error is None and op.tx is not None:
                self._notify(op.tx)

    def _run_batch(self, batch: list[_Op[Any]]) -> None:
        conn = self._raw
        assert conn is not None
        now = clock()
        # one operation alone needs no savepoint: its failure rolls the transaction back
        alone = len(batch) == 1
        conn.execute("BEGIN IMMEDIATE")
        try:
            for op in batch:
                op.tx, op.result, op.error = Tx(conn, now), None, None
                if not alone:
                    conn.execute("SAVEPOINT op")
                try:
                    op.result = op.fn(op.tx)
                except Exception as exc:
                    if is_busy(exc) or not conn.in_transaction:
                        raise  # the transaction is gone: the batch fails (or is retried) whole
                    conn.execute("ROLLBACK" if alone else "ROLLBACK TO op")
                    op.error = exc
                    if alone:
                        return
                if not alone:
                    conn.execute("RELEASE op")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _outcome(self, op: _Op[T]) -> T:
        error = op.error
        if error is None:
            result: T = op.result
            return result
        if isinstance(error, DurableError):
            raise error
        if isinstance(error, sqlite3.Error | OSError):
            raise store_error(self.where, op.what, error) from error
        raise error

    def _notify(self, tx: Tx) -> None:
        if tx.work:
            _hub.notify(self.work_key)
        for instance_id in tx.instances:
            _hub.notify(self.instance_key(instance_id))
