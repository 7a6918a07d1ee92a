"""The SQLite backend: the embedded default (``sqlite:///app.db``) and ``memory://``."""

from .store import SQLiteStore, memory_store

__all__ = ["SQLiteStore", "memory_store"]
