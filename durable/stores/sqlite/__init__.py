"""The SQLite backend: the embedded default (``sqlite:///app.db``)."""

from .store import SQLiteStore

__all__ = ["SQLiteStore"]
