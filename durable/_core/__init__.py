"""L1, the sans-I/O core: the interpreter that turns a history into an Episode (no I/O, no clock,
no asyncio), the user's ``ctx``, the registry, and the checks made when code is registered."""
