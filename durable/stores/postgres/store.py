"""The PostgreSQL store: many workers on many hosts (``postgresql://user@host/db``).

PostgreSQL is the only coordinator: workers claim with ``FOR UPDATE SKIP LOCKED``, commit
episodes guarded by the instance's lease and history version, and wake each other with
``LISTEN/NOTIFY``. Tables live in their own schema (``durable``, or ``?schema=name``), created
and migrated by the store under an advisory lock. Needs the ``postgres`` extra (asyncpg).

A round trip is the cost that counts here, so the hot operations are one statement each (a
start with its first episode, a claim, a completion with the next episode, a common episode
commit: ``start_commit``, ``step_commit``, ``batch_commit``), and the ones of a kind that a
process makes at the same time share one statement (``Batched``): one commit then serves many
instances. Writes whose loss in a crash of the server loses nothing
recorded (leases, a completion consumed by the commit right after it, a first episode that
only schedules work) do not wait for the WAL flush; see docs/concepts/stores.md.

URL options: see ``postgres.url``. Choices where the ``Store`` contract is silent are the SQLite
store's (see ``stores.sqlite``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from functools import partial

import anyio

from ..._errors import StoreError
from ..._events import ActivityCompleted, ErrorInfo, HistoryEvent
from .. import hub as _hub
from .. import rules
from ..base import (
    ActivityWorkItem,
    ClaimSpec,
    EpisodeCommit,
    InstanceFilter,
    InstanceRecord,
    NewInstance,
    OrchestrationWorkItem,
)
from ..batching import Batched
from ..commit import plan_commit
from ..dumps import InstanceDump
from ..rows import dump_error
from . import activities, batch_commit, claims, dumps, episode, instances, listing
from . import start_commit as starts
from . import step_commit as steps
from .control import ControlTables
from .db import Database
from .flow import FlowTables
from .outputs import OutputTables
from .schema import prepare
from .url import parse_url
from .waiting import Waiting
from .workers import WorkerTables

#: at most this many finished rows are kept for waiters (see ``get_instance``)
_KEEP_FINISHED = 10_000


class PostgresStore(Waiting, WorkerTables, OutputTables, ControlTables, FlowTables):
    """A ``Store`` on a PostgreSQL database, opened with ``await store.open()``.

    Opening a store that is open already only counts: it closes on the last ``close()``.
    """

    #: claim loops per kind: one was too few to start a burst of instances (a claim is a round
    #: trip), and each idle one costs a query per wake-up
    claim_concurrency = 4

    def __init__(self, url: str, *, display_url: str | None = None) -> None:
        self.display_url = display_url or url
        dsn, options = parse_url(url, self.display_url)
        self.schema = str(options["schema"])
        self._db = Database(
            dsn,
            self.display_url,
            schema=self.schema,
            pool_size=int(options["pool_size"]),  # type: ignore[call-overload]
            retry_seconds=float(options["retry_seconds"]),  # type: ignore[arg-type]
            connect_timeout=float(options["connect_timeout"]),  # type: ignore[arg-type]
            command_timeout=float(options["command_timeout"]),  # type: ignore[arg-type]
        )
        self._opens = 0
        self._lock: anyio.Lock | None = None
        self._waiters = _hub.Waiters()
        self._creating = Batched(self._create_instances)
        # concurrent starts, and steps, each share one statement (``starts``, ``steps``)
        keep = self._keep_for_waiters
        self._starting = Batched(partial(starts.start_batch, self._db, keep=keep))
        self._stepping = Batched(partial(steps.step_batch, self._db, keep=keep))
        self._reading = Batched(self._get_instances)
        self._committing = Batched(self._commit_many)
        self._finishing = Batched(self._finish_many)

    def __repr__(self) -> str:
        return f"PostgresStore({self.display_url!r})"

    async def open(self) -> None:
        """Connect, check and migrate the schema, start listening for notifications."""
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._opens == 0:
                await self._db.connect(lambda conn: prepare(conn, self.schema, self.display_url))
            self._opens += 1

    async def close(self) -> None:
        """Release this holder's share; the pool closes with the last one."""
        if self._opens == 0:
            return
        self._opens -= 1
        if self._opens == 0:
            await self._db.close()

    # -- instances -----------------------------------------------------------------------------

    async def _create_plain(self, new: NewInstance) -> bool:
        """``create_instance`` without flow options (``flow.FlowTables`` routes)."""
        created, _ = await self._creating((new, None), new.instance_id)
        return created

    async def list_instances(self, where: InstanceFilter) -> list[InstanceRecord]:
        """See ``Store.list_instances``."""
        return await self._db.read(
            lambda conn: listing.list_instances(conn, where), "list_instances"
        )

    async def start_instance(
        self, new: NewInstance, first: EpisodeCommit, *, eager: ClaimSpec, eager_limit: int = 0
    ) -> list[ActivityWorkItem] | None:
        """See ``Store.start_instance``: with its first episode in one statement when that is
        simple (``starts``); else created leased to ``eager``, then the episode commits."""
        rules.check_first(first, new)
        plan = plan_commit(first, now=None, instance=None, eager=eager, eager_limit=eager_limit)
        if starts.fits(new, plan):
            start = starts.Start(new, first, plan, instances.new_token())
            return await self._starting(start, new.instance_id)
        created, item = await self._creating((new, eager), new.instance_id)
        if not created:
            return None
        if item is None:  # a rerun found its own row: the lease runs out, a claimer runs it
            return []
        return await self._commit_claimed(item, first, eager, eager_limit)

    async def _create_instances(
        self, batch: list[tuple[NewInstance, ClaimSpec | None]]
    ) -> list[tuple[bool, OrchestrationWorkItem | None]]:
        """The instances that concurrent ``create_instance``/``start_instance`` calls ask for,
        in one statement; those of ``start_instance`` leased to their starter."""
        creations = [
            instances.Creation(new, instances.new_token(), lease_to=claim) for new, claim in batch
        ]
        return await self._db.run(
            lambda tx: instances.insert_instances(tx, creations, notify=True),
            "create_instance",
            atomic=False,
        )

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """See ``Store.get_instance``; concurrent reads share one statement (``result()`` of
        many instances at once). The first read of an instance that a commit of this process
        has just finished, while someone here waited for it, takes the row that commit
        returned (no round trip: ``result()`` reads right after its wake-up)."""
        kept = self._db.kept.pop(instance_id, None)
        if kept is not None:
            return kept
        return await self._reading(instance_id, instance_id)

    def _keep_for_waiters(self, finished: dict[str, InstanceRecord]) -> None:
        """Keep the finished rows that a task of this process waits for (see get_instance)."""
        for instance_id, record in finished.items():
            if self._db.is_waited(instance_id):
                if len(self._db.kept) >= _KEEP_FINISHED:  # waiters gone without reading
                    self._db.kept.clear()
                self._db.kept[instance_id] = record

    async def _get_instances(self, instance_ids: list[str]) -> list[InstanceRecord | None]:
        return await self._db.read(
            lambda conn: instances.get_instances(conn, instance_ids), "get_instance"
        )

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        """See ``Store.get_history``."""
        return await self._db.read(
            lambda conn: instances.get_history(conn, instance_id), "get_history"
        )

    async def send_message(self, instance_id: str, event: HistoryEvent) -> None:
        """See ``Store.send_message``; a message to a finished instance is dropped."""
        await self._db.run(
            lambda tx: instances.send_message(tx, instance_id, event), "send_message"
        )

    async def purge_instance(self, instance_id: str) -> int:
        """See ``Store.purge_instance``."""
        self._db.kept.clear()  # its sub-orchestrations go too, whichever of them were kept
        return await self._db.run(
            lambda tx: instances.purge_instance(tx, instance_id), "purge_instance"
        )

    async def export_instances(
        self, *, after: str | None = None, limit: int = 100
    ) -> list[InstanceDump]:
        """See ``Store.export_instances``."""
        return await self._db.run(
            lambda tx: dumps.export_instances(tx, after, limit),
            "export_instances",
            notify=False,
            snapshot=True,
        )

    async def import_instances(self, batch: Sequence[InstanceDump]) -> list[str]:
        """See ``Store.import_instances``."""
        items = list(batch)
        return await self._db.run(lambda tx: dumps.import_instances(tx, items), "import_instances")

    # -- orchestration work --------------------------------------------------------------------

    async def claim_orchestration(self, spec: ClaimSpec) -> OrchestrationWorkItem | None:
        """See ``Store.claim_orchestration``: one statement, no transaction, no notification
        (most claims of an idle worker find nothing)."""
        if not spec.orchestrators:
            return None
        return await self._db.run(
            lambda tx: claims.claim_orchestration(tx, spec),
            "claim_orchestration",
            notify=False,
            atomic=False,
        )

    async def claim_orchestrations(
        self, spec: ClaimSpec, limit: int
    ) -> list[OrchestrationWorkItem]:
        """See ``Store.claim_orchestrations``: one statement, as ``claim_orchestration``."""
        if not spec.orchestrators or limit < 1:
            return []
        return await self._db.run(
            lambda tx: claims.claim_orchestrations(tx, spec, limit),
            "claim_orchestration",
            notify=False,
            atomic=False,
        )

    async def _commit_claimed(
        self,
        item: OrchestrationWorkItem,
        decided: EpisodeCommit,
        eager: ClaimSpec,
        eager_limit: int,
        arrived: int = 1,
    ) -> list[ActivityWorkItem] | None:
        """Commit ``decided`` (made before the claim, from the ``arrived`` messages the claiming
        statement wrote) for the instance just leased with ``item``; None, giving the instance
        back, when the claim found it elsewhere than ``decided`` expects (another message,
        another version)."""
        takes = len(item.messages) == arrived and rules.free_for(
            decided,
            item.status,
            lease_free=True,
            ready=True,
            execution_id=item.execution_id,
            version=item.version,
        )
        if takes:
            commit = replace(decided, consumed=[message.id for message in item.messages])
            try:
                return await self.commit_episode(commit, eager=eager, eager_limit=eager_limit)
            except StoreError:
                pass  # the messages wait in the inbox; the instance goes back to the claimers
        await self.release_orchestration(item.instance_id, eager.worker_id)
        return None

    async def commit_episode(
        self, commit: EpisodeCommit, *, eager: ClaimSpec | None = None, eager_limit: int = 0
    ) -> list[ActivityWorkItem]:
        """See ``Store.commit_episode``: with the commits of other instances made at the same
        time, in one statement, when its plan is ``simple`` (``postgres.batch_commit``); else,
        or when that statement declines it, in a transaction of its own."""
        # planned (and checked) first: a bad commit fails alone, not the statement it would join
        plan = plan_commit(commit, now=None, instance=None, eager=eager, eager_limit=eager_limit)
        if plan.simple:
            committed = await self._committing(batch_commit.Entry(commit, plan), commit.instance_id)
            if committed is not None:
                return committed
        return await self._db.run(
            lambda tx: episode.commit_episode(tx, commit, eager, eager_limit), "commit_episode"
        )

    async def _commit_many(
        self, entries: list[batch_commit.Entry]
    ) -> list[list[ActivityWorkItem] | Exception | None]:
        """The episodes that concurrent ``commit_episode`` calls commit, in one statement."""
        return await batch_commit.commit_batch(self._db, entries, self._keep_for_waiters)

    async def release_orchestration(
        self,
        instance_id: str,
        worker_id: str,
        *,
        retry_in: float = 0.0,
        error: ErrorInfo | None = None,
    ) -> None:
        """See ``Store.release_orchestration``."""
        stored = dump_error(error)
        await self._db.run(
            lambda tx: claims.release_orchestration(tx, instance_id, worker_id, retry_in, stored),
            "release_orchestration",
            atomic=False,
        )

    # -- activities ----------------------------------------------------------------------------

    async def claim_activity(self, spec: ClaimSpec) -> ActivityWorkItem | None:
        """See ``Store.claim_activity``."""
        if not spec.activities or not spec.queues:
            return None
        return await self._db.run(
            lambda tx: activities.claim_activity(tx, spec),
            "claim_activity",
            notify=False,
            atomic=False,
        )

    async def complete_activity(
        self,
        item: ActivityWorkItem,
        result: str,
        *,
        more: Sequence[tuple[ActivityWorkItem, str]] = (),
        then: EpisodeCommit | None = None,
        eager: ClaimSpec | None = None,
        eager_limit: int = 0,
    ) -> tuple[bool, list[ActivityWorkItem] | None]:
        """See ``Store.complete_activity``: with a simple ``then``, one statement (``steps``).
        Else the completions are one statement (shared with the other completions of the
        moment) that leases the instance when ``then`` is given and it is free; ``then``
        commits right after it, the lease still held."""
        done = [(item, result), *more]
        if then is not None:
            rules.check_next(then, [attempt for attempt, _ in done])
            plan = plan_commit(then, now=None, instance=None, eager=eager, eager_limit=eager_limit)
            if eager is not None and steps.fits(plan):
                step = steps.Step(done, then, plan)
                stepped = await self._stepping(step, item.instance_id)
                if stepped is not None:
                    return stepped
        claim = eager if then is not None else None  # the worker that decided ``then``
        finishes = [
            activities.Finish(
                attempt, ActivityCompleted(task_id=attempt.task_id, result=value), claim
            )
            for attempt, value in done
        ]
        if len(finishes) == 1:
            outcomes = [await self._finishing(finishes[0], item.id)]
        else:  # one instance's: together in one statement
            outcomes = await self._finish_many(finishes)
        recorded = outcomes[0][0]
        claimed = next((taken for _, taken in outcomes if taken is not None), None)
        if then is None or claim is None or claimed is None:
            return recorded, None
        if not all(ok for ok, _ in outcomes):  # ``then`` recorded a completion that is void
            await self.release_orchestration(claimed.instance_id, claim.worker_id)
            return recorded, None
        return recorded, await self._commit_claimed(claimed, then, claim, eager_limit, len(done))

    async def _finish_many(
        self, finishes: list[activities.Finish]
    ) -> list[tuple[bool, OrchestrationWorkItem | None]]:
        """The attempts that concurrent ``complete_activity`` calls end, in one statement."""
        return await self._db.run(
            lambda tx: activities.finish_many(tx, finishes), "complete_activity", atomic=False
        )

    async def fail_activity(
        self, item: ActivityWorkItem, error: ErrorInfo, *, retry_in: float | None
    ) -> bool:
        """See ``Store.fail_activity``."""
        return await self._db.run(
            lambda tx: activities.fail_activity(tx, item, error, retry_in), "fail_activity"
        )

    async def heartbeat_activity(
        self, item: ActivityWorkItem, details: str | None, lease_seconds: float
    ) -> bool:
        """See ``Store.heartbeat_activity``."""
        return await self._db.run(
            lambda tx: activities.heartbeat_activity(tx, item, details, lease_seconds),
            "heartbeat_activity",
            notify=False,
            atomic=False,
        )

    async def renew_leases(
        self,
        worker_id: str,
        lease_seconds: float,
        *,
        instances: Collection[str] = (),
        activities: Collection[int] = (),
    ) -> None:
        """See ``Store.renew_leases``."""
        held = (list(instances), list(activities))
        await self._db.run(
            lambda tx: claims.renew_leases(tx, worker_id, lease_seconds, *held),
            "renew_leases",
            notify=False,
        )

    async def expire_unstarted(self) -> int:
        """See ``Store.expire_unstarted``."""
        return await self._db.run(activities.expire_unstarted, "expire_unstarted")
