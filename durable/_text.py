"""Strings that reach a store: checked where the user made them, the same on every store.

A NUL is stored by SQLite but refused by PostgreSQL, and a lone surrogate cannot be encoded
to UTF-8 by either: such a string in an id, a name, a queue or a reason fails at the call site
with ``ConfigurationError`` (inside an orchestrator: at its line, failing that instance only),
never later in a worker's commit. Payloads are checked by the serializer.
"""

from __future__ import annotations

from ._errors import ConfigurationError

#: instance ids longer than this are refused at the call site (Temporal allows 1,000 too)
MAX_ID_LENGTH = 1000


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored alike on every store (None when it can)."""
    if "\x00" in text:
        return f"holds a NUL at index {text.index(chr(0))}"
    for index, char in enumerate(text):
        if 0xD800 <= ord(char) <= 0xDFFF:
            return f"holds a lone surrogate at index {index} (it cannot be encoded as UTF-8)"
    return None


def check_text(value: object, what: str, *, optional: bool = False) -> str:
    """``value`` as a storable, non-empty str (``optional``: None passes), else
    ``ConfigurationError`` naming ``what``."""
    if value is None and optional:
        return value  # type: ignore[return-value]
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{what}={value!r}: must be a non-empty str")
    problem = unstorable(value)
    if problem is not None:
        raise ConfigurationError(
            f"{what}={value!r}: {problem}; NUL and lone surrogates are not allowed"
        )
    return value


def check_id(value: object, what: str = "instance_id") -> str:
    """An instance id: a storable, non-empty str of at most ``MAX_ID_LENGTH`` characters."""
    if isinstance(value, str) and len(value) > MAX_ID_LENGTH:
        raise ConfigurationError(
            f"{what}: {len(value)} characters, more than the limit of {MAX_ID_LENGTH}"
        )
    return check_text(value, what)
