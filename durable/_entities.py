"""Entity addresses: the value type shared by the context, the client, the worker and the stores.

An entity lives in the store as a special instance: its id is ``@name@key`` and its name
``@name``, its inbox holds the operations sent to it and its row's custom status holds its
state (see ``_core.entity``). Nothing outside this module spells that id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._errors import ConfigurationError
from ._text import MAX_ID_LENGTH, check_text

#: the first character of an entity's instance id and instance name
ENTITY_PREFIX = "@"


class _Delete:
    """The type of ``DELETE``."""

    _instance: _Delete | None = None

    def __new__(cls) -> _Delete:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "durable.DELETE"


#: returned as the new state by a function entity's operation: the entity is deleted
DELETE: Any = _Delete()


@dataclass(frozen=True, slots=True)
class EntityId:
    """The address of a durable entity: its registered ``name`` and a ``key`` (e.g. a user id).

    ``name`` is a non-empty str without ``@``; ``key`` a non-empty str. Both are checked when the
    id is made, with an error naming the bad value.
    """

    name: str
    key: str

    def __post_init__(self) -> None:
        check_text(self.name, "EntityId(name)")
        check_text(self.key, "EntityId(key)")
        if ENTITY_PREFIX in self.name:
            raise ConfigurationError(f"EntityId(name={self.name!r}): an entity name has no '@'")
        if len(self.instance_id) > MAX_ID_LENGTH:
            raise ConfigurationError(
                f"EntityId({self.name!r}, key of {len(self.key)} characters): the id is longer "
                f"than {MAX_ID_LENGTH} characters"
            )

    @property
    def instance_id(self) -> str:
        """The id of the instance that holds the entity in the store (``@name@key``)."""
        return f"{ENTITY_PREFIX}{self.name}{ENTITY_PREFIX}{self.key}"

    @classmethod
    def parse(cls, instance_id: str) -> EntityId | None:
        """The entity an instance id names, or None for an orchestration's id."""
        if not instance_id.startswith(ENTITY_PREFIX):
            return None
        name, sep, key = instance_id[1:].partition(ENTITY_PREFIX)
        if not sep or not name or not key:
            return None
        return cls(name, key)

    def __str__(self) -> str:
        return self.instance_id


def check_not_entity_id(instance_id: str, what: str) -> str:
    """Refuse an orchestration instance id that starts with ``@`` (kept for entities)."""
    if instance_id.startswith(ENTITY_PREFIX):
        raise ConfigurationError(
            f"{what}={instance_id!r}: ids that start with '@' are kept for durable entities"
        )
    return instance_id


def entity_instance_name(name: str) -> str:
    """The instance name of entities registered as ``name``."""
    return f"{ENTITY_PREFIX}{name}"


def as_entity_id(value: object, what: str) -> EntityId:
    """``value`` as an ``EntityId`` (or a ``(name, key)`` pair), else ``ConfigurationError``."""
    if isinstance(value, EntityId):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        return EntityId(*value)
    raise ConfigurationError(f"{what}={value!r}: must be a durable.EntityId(name, key)")
