"""Command-line values without pydantic when they need no conversion.

typer (0.29) coerces every parameter's value through a pydantic ``TypeAdapter`` that it builds on
first use, even a missing option's ``None``; importing pydantic and building the adapters costs a
short command such as ``durable status ID`` about a fifth of its run (W11 of WORKLOADS.md).

Most values need no conversion: an absent option is ``None``, a text parameter (an id, a name,
``--store URL``) gets a ``str``, a flag a ``bool``; for these typer's own coercion returns the
value unchanged. :func:`install` builds typer's adapter only for a value that needs converting
(a number, an enum, a path, text read from an environment variable for a flag), so every result
and every error is still typer's.

This leans on typer internals (``_TyperParameter.get_runtime_param``, ``RuntimeParam``), so it
acts only on the typer release it was tested with; on any other :func:`install` does nothing, and
typer's coercion runs as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: the typer releases whose internals this was written against and tested with
_KNOWN_TYPER = "0.29."


def install() -> None:
    """Make every typer parameter build its pydantic coercion only for a value that needs it."""
    import typer

    if not typer.__version__.startswith(_KNOWN_TYPER):  # internals change without notice
        return
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
        from typer.core import _TyperParameter
    except ImportError:  # another typer: keep its coercion
        return
    original = getattr(_TyperParameter, "get_runtime_param", None)
    if original is None or getattr(original, "_durable_lazy", False):
        return

    @dataclass(frozen=True)
    class Lazy(RuntimeParam):
        """Values that need no conversion as they are; the others through typer's coercion."""

        descriptor: Any = None
        built: list[Any] = field(default_factory=list)  # typer's RuntimeParam, once needed

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            # ``None`` (and a multi-value's ``()``) never get here: RuntimeParam.coerce answers them
            plain = self.annotation in (str, bool) and self.parameter_info.parser is None
            if plain and type(value) is self.annotation:
                return value
            if not self.built:
                self.built.append(build_runtime_param(self.descriptor))
            return self.built[0]._coerce_value(value, param=param, ctx=ctx)

    def get_runtime_param(self: Any) -> Any:
        descriptor = getattr(self, "type_descriptor", None)
        if self._runtime_param is None and descriptor is not None:
            self._runtime_param = Lazy(
                parameter_info=descriptor.parameter_info,
                annotation=descriptor.annotation,
                descriptor=descriptor,
            )
        return original(self)

    get_runtime_param._durable_lazy = True  # type: ignore[attr-defined]
    _TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]
