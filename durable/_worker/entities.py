"""The worker's side of entities: running an entity's episode, and creating the rows of the
entities an episode sends to before it commits.

An entity's episode is decided by ``_core.entity_episode`` from the entity's stored envelope
and its claimed messages, then committed like an orchestration's (the lease guards it): the new
envelope in the row's custom status, the messages consumed, and the answers and signals sent, in
one transaction. The inbox of an entity exists once its row does; the row is created (an
idempotent ``create_instance``) the first time this process sends to the entity, before the
commit that sends: a commit that is then refused leaves an empty entity, which reads as never
touched.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from .. import _actions as act
from .._core.entity_episode import decide
from .._core.registry import App
from .._entities import ENTITY_PREFIX, EntityId, entity_instance_name
from .._status import Status
from .._telemetry import TELEMETRY
from ..stores.base import EpisodeCommit, LeaseLost, NewInstance, OrchestrationWorkItem, Store

logger = logging.getLogger("durable.entity")

#: entity rows this process knows exist (an LRU: an entity's row is never deleted while it runs)
_KNOWN_AT_MOST = 100_000


def is_entity(name: str) -> bool:
    """Whether instances of ``name`` are entities."""
    return name.startswith(ENTITY_PREFIX)


#: built once: ``A | B`` in a loop makes a union object per action of every episode
_TO_ONE = (act.SignalEntity, act.CallEntity)
_LOCKS = (act.LockEntities, act.UnlockEntities)


def targets(actions: Iterable[act.Action]) -> list[str]:
    """The entities (instance ids) ``actions`` send to, in order, each once."""
    found: dict[str, None] = {}
    for action in actions:
        if isinstance(action, _TO_ONE):
            found[EntityId(action.entity_name, action.entity_key).instance_id] = None
        elif isinstance(action, _LOCKS):
            found.update(dict.fromkeys(action.entities))
        elif isinstance(action, act.SendMessage) and is_entity(action.instance_id):
            found[action.instance_id] = None
    return list(found)


class EntityRows:
    """Creates the rows of the entities sent to, once per entity per process."""

    def __init__(self) -> None:
        self._known: OrderedDict[str, None] = OrderedDict()

    async def ensure(self, store: Store, actions: Iterable[act.Action]) -> None:
        """Create the rows of the entities ``actions`` send to."""
        found = targets(actions)
        if found:  # most episodes send to none
            await self.ensure_ids(store, found)

    async def ensure_ids(self, store: Store, instance_ids: Iterable[str]) -> None:
        """Create the rows of these entities (instance ids)."""
        for instance_id in instance_ids:
            if instance_id in self._known:
                self._known.move_to_end(instance_id)
                continue
            await ensure_entity(store, instance_id)
            self._known[instance_id] = None
            if len(self._known) > _KNOWN_AT_MOST:
                self._known.popitem(last=False)


async def ensure_entity(store: Store, instance_id: str) -> None:
    """Create the entity's row if it has none (its inbox then takes messages)."""
    entity = EntityId.parse(instance_id)
    assert entity is not None, instance_id
    await store.create_instance(NewInstance(instance_id, entity_instance_name(entity.name), "null"))


class _Steps(Protocol):
    app: App
    worker_id: str
    entity_rows: EntityRows

    @property
    def store(self) -> Store: ...


async def run_entity_episode(
    steps: _Steps,
    item: OrchestrationWorkItem,
    hold: Callable[[OrchestrationWorkItem, Exception], Awaitable[None]],
) -> None:
    """Decide and commit one episode of the claimed entity ``item``. A lost lease drops it
    (another worker has the entity); another failure (the store's, or a bug) holds the entity
    with ``hold``, and the worker serves the others."""
    try:
        await _run(steps, item)
    except LeaseLost as exc:
        TELEMETRY.lease_expired(kind="orchestration")
        logger.warning("entity %s: stale lease, episode dropped: %s", item.instance_id, exc)
    except Exception as exc:
        await hold(item, exc)


async def _run(steps: _Steps, item: OrchestrationWorkItem) -> None:
    store = steps.store
    record = await store.get_instance(item.instance_id)
    stored = record.custom_status if record is not None else None
    episode = decide(steps.app, item.instance_id, stored, [m.event for m in item.messages])
    commit = EpisodeCommit(
        instance_id=item.instance_id,
        worker_id=steps.worker_id,
        execution_id=item.execution_id,
        expected_version=item.version,
        events=[],
        actions=episode.actions,
        consumed=[m.id for m in item.messages],
        status=Status.RUNNING,
        custom_status=episode.custom_status,
    )
    await steps.entity_rows.ensure(store, commit.actions)
    await store.commit_episode(commit)
    for operation, message in episode.failures:
        logger.warning(
            "entity %s: signalled operation %r failed: %s",
            item.instance_id,
            operation,
            message,
            extra={"instance_id": item.instance_id},
        )
