"""The PostgreSQL backend (``postgresql://``; needs the ``postgres`` extra, asyncpg)."""

from .store import PostgresStore

__all__ = ["PostgresStore"]
