"""The PostgreSQL store's URL: ``postgresql://user@host/db?schema=...``.

URL options (removed before the URL reaches asyncpg, which takes the rest, e.g. ``sslmode``):

* ``schema``: the schema holding durable's tables (default ``durable``).
* ``pool_size``: connections in the pool (default 10), plus one listening connection.
* ``retry_seconds``: how long a transient failure (a dropped connection, a restarting server)
  is retried before ``StoreError`` (default 30).
* ``connect_timeout``: seconds to connect, also the retry budget of ``open()`` (default 5).
* ``command_timeout``: seconds a statement may take before the connection is given up as lost
  (default 30; detects a network partition).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..._errors import ConfigurationError

#: our URL options and their defaults
OPTIONS: dict[str, object] = {
    "schema": "durable",
    "pool_size": 10,
    "retry_seconds": 30.0,
    "connect_timeout": 5.0,
    "command_timeout": 30.0,
}


def parse_url(url: str, display_url: str) -> tuple[str, dict[str, object]]:
    """Split our options off the URL: (the DSN for asyncpg, the options with defaults)."""
    parts = urlsplit(url)
    ours: dict[str, object] = dict(OPTIONS)
    theirs = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in OPTIONS:
            theirs.append((key, value))
            continue
        kind: type[Any] = type(OPTIONS[key])
        try:
            parsed = kind(value)
        except ValueError:
            raise ConfigurationError(
                f"store URL {display_url!r}: {key}={value!r} must be a {kind.__name__}"
            ) from None
        if kind is not str and parsed <= 0:
            raise ConfigurationError(f"store URL {display_url!r}: {key} must be positive")
        ours[key] = parsed
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    dsn = urlunsplit((scheme, parts.netloc, parts.path, urlencode(theirs), parts.fragment))
    return dsn, ours
