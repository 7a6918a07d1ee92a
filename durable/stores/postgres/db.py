"""The PostgreSQL connection: a pool, one transaction per operation, retries, and wake-ups.

Every operation runs ``fn(tx)`` in one transaction on a pooled connection. A transient failure
(a dropped connection, a restarting server, a deadlock or serialization failure) rolls back and
reruns the whole operation with tenacity, within ``retry_seconds``; the pool replaces broken
connections. Other errors raise ``StoreError`` naming the store and the operation.

Wake-ups: a transaction that makes work claimable, or changes an instance's status, sends one
``pg_notify`` on the store's channel before it commits (PostgreSQL delivers it only if the commit
succeeds). A dedicated listening connection turns notifications from other processes into
in-process wake-ups (``_hub``); this process's own commits wake its waiters directly. The
listener reconnects after a drop and then wakes every waiter, since notifications sent while it
was away are lost; waiters also return after their timeout, the slow safety poll.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import anyio
import asyncpg
import tenacity

from ..._errors import DurableError, StoreError
from .. import hub as _hub
from ..base import InstanceRecord
from ..retrying import retried
from .errors import DRIVER_ERRORS, is_transient, store_error

logger = logging.getLogger("durable.store")

T = TypeVar("T")

#: a payload stays under PostgreSQL's 8,000-byte NOTIFY limit
_MAX_PAYLOAD = 7000
#: how often the listener checks that its connection is alive (a partition is silent)
_LISTENER_CHECK = 5.0
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def check_schema_name(schema: str, where: str) -> str:
    """A schema name safe to write into SQL unquoted (lowercase letters, digits, ``_``)."""
    if not _SCHEMA_NAME.fullmatch(schema):
        raise StoreError(
            f"{where}: schema={schema!r}: use lowercase letters, digits and _ (at most 63, "
            "not starting with a digit)"
        )
    return schema


#: the kinds of work a wake-up is for (``Store.wait_for_work``'s kind, in short)
ORCHESTRATIONS, ACTIVITIES = "o", "a"
_KINDS = {"orchestrations": ORCHESTRATIONS, "activities": ACTIVITIES}


@dataclass
class _Shared:
    """What the store objects of one process on one database and schema share."""

    token: str
    #: instances that tasks of the process wait for, and how many tasks
    waited: Counter[str] = field(default_factory=Counter)
    #: finished rows kept for those waiters (``PostgresStore.get_instance``)
    kept: dict[str, InstanceRecord] = field(default_factory=dict)


_SHARED: dict[tuple[int, str, str], _Shared] = {}


def _shared(dsn: str, schema: str) -> _Shared:
    """The state shared by this process's store objects on ``dsn`` and ``schema`` (a forked
    child gets its own: notifications of the parent must reach it)."""
    key = (os.getpid(), dsn, schema)
    shared = _SHARED.get(key)
    if shared is None:
        shared = _SHARED[key] = _Shared(token=uuid.uuid4().hex[:12])
    return shared


@dataclass
class Tx:
    """One operation's transaction, and whom to wake after it commits."""

    conn: asyncpg.Connection
    #: the database's clock at the transaction's start (``now()``), once read
    now: datetime | None = None
    #: the kinds of work (``ORCHESTRATIONS``, ``ACTIVITIES``) that may be claimable now (wake
    #: this process's ``wait_for_work`` of those kinds)
    work: set[str] = field(default_factory=set)
    #: ... and other processes should hear of it (a NOTIFY; see ``_send_notifications``)
    broadcast: bool = False
    #: work that falls due later was made (a timer, a retry's backoff): the next due time that
    #: ``wait_for_work`` keeps may be earlier now
    due: bool = False
    #: instances that finished (wake this process's ``wait_for_instance``: ``result()`` waits
    #: for nothing else)
    instances: set[str] = field(default_factory=set)
    #: ... and other processes should hear of it (a NOTIFY, unless the statement sent its own)
    finished: set[str] = field(default_factory=set)
    #: the store's notification channel, and the token its own notifications carry
    channel: str = ""
    token: str = ""

    def payload(self, work: Collection[str], finished: list[str]) -> str:
        """The notification a statement sends itself (with ``pg_notify`` in its SQL): the
        statements that write and notify in one round trip. ``finished`` is short."""
        payloads = notification_payloads(self.token, work, finished)
        assert len(payloads) == 1, "one instance's notification fits one payload"
        return payloads[0]

    async def clock(self) -> datetime:
        """The transaction's time (``now()``): the same for every statement in it."""
        if self.now is None:
            self.now = await self.conn.fetchval("SELECT now()")
        return self.now


class Database:
    """One PostgreSQL database (and schema) behind an asyncpg pool and a listener."""

    def __init__(
        self,
        dsn: str,
        where: str,
        *,
        schema: str,
        pool_size: int,
        retry_seconds: float,
        connect_timeout: float,
        command_timeout: float,
    ) -> None:
        self.dsn = dsn
        self.where = where
        self.schema = check_schema_name(schema, where)
        self.pool_size = pool_size
        self.retry_seconds = retry_seconds
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.channel = f"durable_{schema}"
        self._shared = _shared(dsn, self.schema)
        #: this process's notifications on this database carry it: every store object of the
        #: process on it was woken directly (the hub keys are shared), so listeners skip them
        self.token = self._shared.token
        self.work_key = f"pg:{self.token}"
        #: per kind of work (``\x01``: an instance key has ``\x00``, and any instance id)
        self._work_keys = {
            kind: f"{self.work_key}\x01{kind}" for kind in (ORCHESTRATIONS, ACTIVITIES)
        }
        #: notified when the next due time may have moved (see ``Tx.due``)
        self.due_key = f"{self.work_key}\x01due"
        #: rows of instances finished by a commit of this process that a task here waits for
        self.kept = self._shared.kept
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncio.Task[None] | None = None
        self._listening = anyio.Event()
        self._waited = self._shared.waited

    def work_key_of(self, kind: str | None) -> str:
        """The hub key that ``wait_for_work(kind=...)`` waits on (any work for None)."""
        return self.work_key if kind is None else self._work_keys[_KINDS[kind]]

    def instance_key(self, instance_id: str) -> str:
        """The hub key that ``wait_for_instance`` waits on."""
        return f"{self.work_key}\x00{instance_id}"

    # -- life cycle ----------------------------------------------------------------------------

    def _connect_kwargs(self) -> dict[str, Any]:
        return {
            "timeout": self.connect_timeout,
            "command_timeout": self.command_timeout,
            "server_settings": {"search_path": self.schema, "application_name": "durable"},
        }

    async def connect(self, prepare: Callable[[asyncpg.Connection], Awaitable[None]]) -> None:
        """Open the pool, run ``prepare`` (schema checks and migrations), start listening."""
        kwargs = self._connect_kwargs()

        # min_size=0: connections open on demand; a floor would make asyncpg log a traceback
        # for every failed refill while the server is down
        async def create() -> asyncpg.Pool:
            return await asyncpg.create_pool(
                self.dsn, min_size=0, max_size=self.pool_size, reset=_keep_session, **kwargs
            )

        try:
            self._pool = await self._retrying(self.connect_timeout)(create)
        except DRIVER_ERRORS as exc:
            raise store_error(self.where, "cannot connect", exc) from exc
        try:
            await self.run(
                lambda tx: prepare(tx.conn),
                "cannot open the store",
                notify=False,
                budget=self.connect_timeout,
            )
        except BaseException:
            await self.close()
            raise
        self._listener = asyncio.get_running_loop().create_task(self._listen())
        with anyio.move_on_after(self.connect_timeout):
            await self._listening.wait()

    async def close(self) -> None:
        """Stop listening and close the pool (idempotent)."""
        listener, self._listener = self._listener, None
        pool, self._pool = self._pool, None
        with anyio.CancelScope(shield=True):
            if listener is not None:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)
            if pool is not None:
                try:
                    with anyio.fail_after(5):
                        await pool.close()
                except DRIVER_ERRORS:
                    pool.terminate()

    # -- running operations --------------------------------------------------------------------

    def _retrying(self, budget: float) -> tenacity.AsyncRetrying:
        return tenacity.AsyncRetrying(
            stop=tenacity.stop_after_delay(budget),
            wait=tenacity.wait_exponential(multiplier=0.05, max=1.0)
            + tenacity.wait_random(0, 0.05),
            retry=tenacity.retry_if_exception(is_transient),
            sleep=anyio.sleep,
            reraise=True,
        )

    async def run(
        self,
        fn: Callable[[Tx], Awaitable[T]],
        what: str,
        *,
        notify: bool = True,
        snapshot: bool = False,
        budget: float | None = None,
        atomic: bool = True,
    ) -> T:
        """Run ``fn(tx)`` in one transaction (rerun whole on a transient failure); its result.

        ``snapshot``: a read-only REPEATABLE READ transaction (every statement sees one snapshot).
        ``budget``: seconds of retrying (default ``retry_seconds``).
        ``atomic=False``: no explicit transaction, each statement commits alone (two round trips
        fewer), for operations of one statement whose extra statements may commit apart.
        """
        if self._pool is None:
            raise StoreError(f"{self.where}: the store is not open (await store.open() first)")
        pool = self._pool

        async def attempt() -> tuple[T, Tx]:
            async with pool.acquire() as conn:
                if not atomic:
                    return await self._in(conn, fn, notify)
                isolation = "repeatable_read" if snapshot else None
                async with conn.transaction(isolation=isolation, readonly=snapshot):
                    return await self._in(conn, fn, notify)

        try:
            seconds = self.retry_seconds if budget is None else budget
            outcome = await retried(attempt, is_transient, partial(self._retrying, seconds))
        except DurableError:
            raise
        except DRIVER_ERRORS as e:
            raise store_error(self.where, what, e) from e
        result, tx = outcome
        if notify:
            self._wake(tx.work, tx.instances, due=tx.due)
        return result

    async def _in(
        self, conn: asyncpg.Connection, fn: Callable[[Tx], Awaitable[T]], notify: bool
    ) -> tuple[T, Tx]:
        tx = Tx(conn, channel=self.channel, token=self.token)
        result = await fn(tx)
        if notify:
            await self._send_notifications(tx)
        return result, tx

    async def read(self, fn: Callable[[asyncpg.Connection], Awaitable[T]], what: str) -> T:
        """Run ``fn(connection)`` outside a transaction (each statement its own snapshot)."""

        async def reading(tx: Tx) -> T:
            return await fn(tx.conn)

        return await self.run(reading, what, notify=False, atomic=False)

    # -- wake-ups ------------------------------------------------------------------------------

    async def _send_notifications(self, tx: Tx) -> None:
        # NOTIFY takes a database-wide lock at commit, serialising the commits that send one:
        # only work another process may have to take, and finished instances, are announced
        if not tx.broadcast and not tx.finished:
            return
        work = tx.work if tx.broadcast else set[str]()
        for payload in notification_payloads(self.token, work, sorted(tx.finished)):
            await tx.conn.execute("SELECT pg_notify($1, $2)", self.channel, payload)

    def _wake(
        self, work: Collection[str], instances: set[str] | list[str], *, due: bool = True
    ) -> None:
        """Wake this process's waiters: for the kinds of ``work``, on instances, and (``due``)
        those keeping the next due time (another process's notification may carry anything)."""
        if due:
            _hub.notify(self.due_key)
        if work:
            _hub.notify(self.work_key)
        for kind in work:
            _hub.notify(self._work_keys[kind])
        for instance_id in instances:
            _hub.notify(self.instance_key(instance_id))

    def _wake_everyone(self) -> None:
        self._wake((ORCHESTRATIONS, ACTIVITIES), list(self._waited))

    def _on_notification(self, conn: object, pid: int, channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
            if message.get("s") == self.token:
                return  # our own commit woke our waiters already
            work = message.get("w")
            if work is True:  # (any kind: a sender that does not say which)
                work = ORCHESTRATIONS + ACTIVITIES
            self._wake(
                [kind for kind in work or "" if kind in self._work_keys], list(message.get("i", ()))
            )
        except (ValueError, AttributeError, TypeError):
            self._wake_everyone()  # not ours to parse: wake everyone rather than miss work

    def is_waited(self, instance_id: str) -> bool:
        """Whether a task of this process waits for the instance now."""
        return instance_id in self._waited

    async def wait(self, key: str, timeout: float, seen: int | None) -> int:
        """``_hub.wait``, counting the instances waited on so a reconnect can wake them."""
        instance = key.partition("\x00")[2]
        if instance:
            self._waited[instance] += 1
        try:
            return await _hub.wait(key, timeout, seen=seen)
        finally:
            if instance:
                self._waited[instance] -= 1
                if self._waited[instance] <= 0:
                    del self._waited[instance]

    async def _listen(self) -> None:
        """Hold a LISTEN connection; reconnect (and wake everyone) whenever it is lost."""
        failures = 0
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn, **self._connect_kwargs())
                lost = anyio.Event()
                conn.add_termination_listener(lambda _, lost=lost: lost.set())
                await conn.add_listener(self.channel, self._on_notification)
                if failures:
                    logger.info("%s: listening again after a lost connection", self.where)
                failures = 0
                self._listening.set()
                self._wake_everyone()  # notifications sent while away are lost
                while not lost.is_set():
                    with anyio.move_on_after(_LISTENER_CHECK):
                        await lost.wait()
                    # a partition is silent: only a round trip tells the connection is gone
                    await conn.fetchval("SELECT 1", timeout=_LISTENER_CHECK)
                raise ConnectionResetError("the listening connection was closed")
            except DRIVER_ERRORS:
                failures += 1
                if failures == 1:
                    logger.warning(
                        "%s: the listening connection was lost; reconnecting", self.where
                    )
                self._wake_everyone()
                await anyio.sleep(min(0.05 * 2 ** min(failures, 5), 2.0))
            finally:
                if conn is not None:
                    conn.terminate()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release, as a no-op: asyncpg's default costs a round trip per
    operation, and the store leaves no session state behind (no session locks, cursors,
    LISTENs or settings on pooled connections)."""


def unnest_columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows of ``width`` values as one array per value: the parameters of an ``unnest``."""
    arrays: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for array, value in zip(arrays, row, strict=True):
            array.append(value)
    return arrays


def notification_payloads(token: str, work: Collection[str], instances: list[str]) -> list[str]:
    """Notification payloads, each under the size limit, carrying all the instances and the
    kinds of work made (``"w"``: ``"o"``, ``"a"`` or both)."""
    kinds = "".join(sorted(work))
    payloads, batch = [], list[str]()
    size = 0
    for instance_id in instances:
        cost = len(instance_id.encode()) * 2 + 8  # JSON escaping can double it
        if batch and size + cost > _MAX_PAYLOAD:
            payloads.append(json.dumps({"s": token, "w": kinds, "i": batch}))
            batch, size = [], 0
        batch.append(instance_id)
        size += cost
    payloads.append(json.dumps({"s": token, "w": kinds, "i": batch}))
    return payloads
