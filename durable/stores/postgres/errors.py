"""The PostgreSQL driver's errors, mapped once: which are transient (retried), and the
``StoreError`` that names the store and chains the driver's error."""

from __future__ import annotations

import asyncpg

from ..._errors import StoreError

#: SQLSTATEs worth a retry: connection failures, shutdown/startup, too many connections,
#: serialization failures and deadlocks (PostgreSQL picked a victim; rerunning succeeds)
_TRANSIENT_STATES = ("08", "57P01", "57P02", "57P03", "53300", "40001", "40P01")
#: what the driver raises: server errors, client-side errors, and the network's
DRIVER_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


def is_transient(exc: BaseException) -> bool:
    """True for failures that a rerun on a fresh connection may not meet again."""
    if isinstance(exc, OSError | TimeoutError | asyncpg.exceptions.InternalClientError):
        # InternalClientError: a connection the server terminated can be left mid-operation
        # ("cannot switch to state ..."); the pool drops it when the operation fails
        return True
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", None) or ""
        return any(state.startswith(prefix) for prefix in _TRANSIENT_STATES)
    if isinstance(exc, asyncpg.InterfaceError):
        text = str(exc)
        return "connection is closed" in text or "connection was closed" in text
    return False


def store_error(where: str, what: str, exc: BaseException) -> StoreError:
    """The one mapping of a driver error: ``StoreError("<url>: <what>: <cause>")`` from it."""
    cause = str(exc).strip() or type(exc).__name__
    if is_transient(exc):
        cause += " (the database stayed unreachable past the retry budget)"
    error = StoreError(f"{where}: {what}: {cause}")
    error.__cause__ = exc
    return error
