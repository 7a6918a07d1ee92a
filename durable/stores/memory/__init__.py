"""The memory backend (``memory://``): every table a dict, for tests and a single process."""

from .store import MemoryStore, memory_store

__all__ = ["MemoryStore", "memory_store"]
