"""Entity addresses: the value type shared by the context, the client and the stores."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EntityId:
    """The address of a durable entity: its registered ``name`` and a ``key`` (e.g. a user id)."""

    name: str
    key: str

    def __str__(self) -> str:
        return f"@{self.name}@{self.key}"
