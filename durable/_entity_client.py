"""The client's entity calls (DESIGN 2a): signal an entity, read its state, list entities."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import _events as ev
from ._entities import ENTITY_PREFIX, EntityId, as_entity_id, entity_instance_name
from ._errors import ConfigurationError
from ._serde import Serializer
from ._text import check_text
from .stores.base import InstanceFilter, Store

if TYPE_CHECKING:  # the worker's module loads on the first signal (W11: `durable status`)
    from ._worker.entities import EntityRows

#: the most instance rows one ``list_entities`` reads (entities are instances named ``@name``)
_READ_AT_MOST = 1_000_000


@dataclass(frozen=True, slots=True)
class EntityInfo:
    """One entity of ``client.list_entities()``: its id, when its state last changed, and the
    orchestration that holds it in a critical section (None when nobody does)."""

    entity_id: EntityId
    updated_at: datetime
    locked_by: str | None = None


class EntityClient:
    """The entity calls of ``Client`` (it provides ``store`` and ``serializer``)."""

    serializer: Serializer

    @functools.cached_property
    def _entity_rows(self) -> EntityRows:
        """The entity rows this client created (each is created once)."""
        from ._worker.entities import EntityRows

        return EntityRows()

    @property
    def store(self) -> Store:  # pragma: no cover - Client's
        raise NotImplementedError

    async def signal_entity(self, entity_id: EntityId, operation: str, arg: Any = None) -> None:
        """Send ``operation`` with ``arg`` to the entity (fire and forget). It runs after the
        operations that arrived before it, one at a time, on whichever worker serves it."""
        entity = as_entity_id(entity_id, "signal_entity(entity_id)")
        check_text(operation, "signal_entity(operation)")
        encoded = self.serializer.encode(arg, path=f"signal_entity({operation!r}).arg")
        await self._entity_rows.ensure_ids(self.store, [entity.instance_id])
        message = ev.EntityOperation(operation=operation, arg=encoded)
        await self.store.send_message(entity.instance_id, message)

    async def get_entity(self, entity_id: EntityId) -> Any:
        """The entity's state, or None when it was never touched or was deleted."""
        from ._core.entity_episode import entity_state  # with the registry: not for every command

        entity = as_entity_id(entity_id, "get_entity(entity_id)")
        record = await self.store.get_instance(entity.instance_id)
        state = entity_state(record.custom_status) if record is not None else None
        return None if state is None else self.serializer.decode(state, path="entity state")

    async def list_entities(
        self, name: str | None = None, *, limit: int = 1000
    ) -> list[EntityInfo]:
        """Entities that have a state or are locked (of the registered ``name``, or all), most
        recently changed first, at most ``limit``."""
        from ._core.entity_episode import entity_lock_owner, entity_state

        if name is not None:
            check_text(name, "list_entities(name)")
        if not isinstance(limit, int) or limit < 1:
            raise ConfigurationError(f"list_entities(limit={limit!r}): must be an int >= 1")
        records = await self.store.list_instances(
            InstanceFilter(
                name=None if name is None else entity_instance_name(name), limit=_READ_AT_MOST
            )
        )
        found: list[EntityInfo] = []
        for record in records:
            entity = EntityId.parse(record.instance_id)
            state = record.custom_status
            if entity is None or not record.name.startswith(ENTITY_PREFIX):
                continue
            owner = entity_lock_owner(state)
            if entity_state(state) is not None or owner is not None:
                found.append(EntityInfo(entity, record.updated_at, owner))
        found.sort(key=lambda info: info.updated_at, reverse=True)
        return found[:limit]
