"""Stores: where instances, histories and work live. ``open_store`` picks one from a URL.

Backends are imported lazily, when a URL asks for them, so ``import durable`` loads no driver.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from .._errors import ConfigurationError
from .base import Store

ACCEPTED = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db (optionally "
    "?synchronous=normal|full), memory://, memory://name, postgresql://user@host/db"
)
_SQLITE_OPTIONS = ("synchronous", "busy_timeout")


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe to show and log)."""
    url = re.sub(r"^([A-Za-z][\w+.-]*://[^:/@]*:).*@", r"\1***@", url)
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", url)


def open_store(url: str | Store) -> Store:
    """The store a URL names (not opened yet: ``await store.open()``), or ``url`` if it is one.

    ``memory://name`` gives the same store object to every caller while it is open, so a Client
    and a Worker in one process share it.
    """
    if not isinstance(url, str):
        return url
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if sep and scheme == "sqlite":
        return _sqlite(url, rest)
    if sep and scheme == "memory":
        from .memory.store import memory_store

        return memory_store(rest.rstrip("/"))
    if sep and scheme in ("postgresql", "postgres"):
        return _postgres(url)
    raise ConfigurationError(f"unsupported store URL {redact(url)!r}; use one of: {ACCEPTED}")


def _postgres(url: str) -> Store:
    try:
        from .postgres.store import PostgresStore
    except ImportError as exc:  # asyncpg is the postgres extra
        raise ConfigurationError(
            f"store URL {redact(url)!r}: the PostgreSQL store needs asyncpg; "
            "pip install 'durable[postgres]'"
        ) from exc
    return PostgresStore(url, display_url=redact(url))


def _sqlite(url: str, rest: str) -> Store:
    path, _, query = rest.partition("?")
    if not path.startswith("/") or len(path) < 2:
        raise ConfigurationError(
            f"store URL {redact(url)!r}: no database path; write sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db"
        )
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - set(_SQLITE_OPTIONS))
    if unknown:
        raise ConfigurationError(
            f"store URL {redact(url)!r}: unknown option(s) {', '.join(unknown)}; "
            f"known: {', '.join(_SQLITE_OPTIONS)}"
        )
    try:
        busy_timeout = float(options.get("busy_timeout", 5.0))
    except ValueError:
        raise ConfigurationError(
            f"store URL {redact(url)!r}: busy_timeout must be a number of seconds"
        ) from None
    from .sqlite.store import SQLiteStore

    return SQLiteStore(
        path[1:],
        synchronous=options.get("synchronous", "full"),
        busy_timeout=busy_timeout,
        display_url=redact(url),
    )


__all__ = ["Store", "open_store", "redact"]
