"""Registration-time check of an orchestrator's source for calls that break determinism.

An orchestrator is replayed from its history, so it must make the same decisions every time:
reading the clock, drawing random numbers or doing I/O directly gives a different answer on
replay. `find_nondeterministic_calls` reads the function's source with `ast`, resolves each call's
name through the function's imports and module globals, and looks it up in a small table of known
offenders, each with its `ctx` alternative. The check is a hint: it warns, never refuses.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import textwrap
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePath
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType

# alternative -> the calls it replaces; "module.*" stands for everything in that module
_TABLE = {
    "yield ctx.now()": "time.time time.time_ns time.monotonic time.monotonic_ns time.perf_counter"
    " time.perf_counter_ns datetime.datetime.now datetime.datetime.utcnow"
    " datetime.datetime.today datetime.date.today",
    "ctx.random()": "random.*",
    "ctx.new_uuid()": "uuid.uuid1 uuid.uuid4",
    "yield ctx.sleep(...)": "time.sleep asyncio.sleep asyncio.tasks.sleep",
    "do I/O in an activity: yield ctx.call_activity(...)": "builtins.open io.open os.urandom"
    " posix.urandom nt.urandom os.getrandom posix.getrandom secrets.* socket.* requests.*"
    " httpx.* urllib.request.* http.client.* aiohttp.* subprocess.*",
}
_EXACT = {name: alt for alt, names in _TABLE.items() for name in names.split() if "*" not in name}
_PREFIXES = {n[:-1]: alt for alt, names in _TABLE.items() for n in names.split() if "*" in n}
_MISSING = object()
_DEFS = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


class DeterminismWarning(UserWarning):
    """An orchestrator's source calls something that gives a different result on replay.

    Raised (as a warning) when the orchestrator is registered; the message names the file, the
    line and the `ctx` alternative to use instead.
    """


@dataclass(frozen=True, slots=True)
class Finding:
    """One call in an orchestrator's source that breaks determinism.

    Attributes:
        filename: the source file of the orchestrator.
        lineno: the line of the call in that file.
        call: the call as written, e.g. `"datetime.now()"`.
        alternative: what to do instead, e.g. `"yield ctx.now()"`.
    """

    filename: str
    lineno: int
    call: str
    alternative: str


@dataclass(frozen=True, slots=True)
class _Scope:
    """What the names in a function's body refer to."""

    globals: dict[str, object]
    imports: dict[str, str]  # names bound by import statements inside the function
    local: set[str]  # other names bound inside the function (parameters, assignments, ...)


def find_nondeterministic_calls(fn: Callable[..., object]) -> list[Finding]:
    """The calls in `fn`'s body (nested functions included) that break determinism.

    Returns `[]` when the source is unavailable (a builtin, a `functools.partial`, a REPL).
    """
    try:
        fn = inspect.unwrap(fn)
        lines, first = inspect.getsourcelines(fn)
        filename = inspect.getsourcefile(fn) or inspect.getfile(fn)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, ValueError, SyntaxError):
        return []
    top: ast.AST = tree.body[0] if tree.body else tree
    params: list[ast.AST] = []
    body: list[ast.AST] = [top]
    if isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef):
        params, body = list(ast.walk(top.args)), list(top.body)
    nodes = [node for stmt in body for node in ast.walk(stmt)]
    scope = _Scope(getattr(fn, "__globals__", {}), *_bindings(params + nodes))
    findings = []
    for node in nodes:
        if isinstance(node, ast.Call) and (alternative := _alternative(node.func, scope)):
            call = f"{ast.unparse(node.func)}()"
            findings.append((node.lineno, node.col_offset, call, alternative))
    return [
        Finding(filename, line + first - 1, call, alt) for line, _, call, alt in sorted(findings)
    ]


def warn_if_nondeterministic(fn: Callable[..., object], name: str) -> None:
    """Emit one `DeterminismWarning` per finding, attributed to the call's file and line."""
    for finding in find_nondeterministic_calls(fn):
        hint = finding.alternative
        if not hint.startswith("do "):
            hint = f"use {hint}"
        where = f"{PurePath(finding.filename).name}:{finding.lineno}"
        warnings.warn_explicit(
            f"orchestrator {name!r} calls {finding.call} at {where}; "
            f"orchestrators must be deterministic: {hint}",
            DeterminismWarning,
            finding.filename,
            finding.lineno,
        )


def _bindings(nodes: list[ast.AST]) -> tuple[dict[str, str], set[str]]:
    """Names bound inside the function: by imports (to dotted names), and otherwise."""
    imports: dict[str, str] = {}
    local: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.partition(".")[0]
                imports[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imports.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
        elif isinstance(node, ast.ImportFrom):  # relative: we cannot tell what it binds
            local.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            local.add(node.id)
        elif isinstance(node, ast.arg):
            local.add(node.arg)
        elif isinstance(node, _DEFS | ast.ExceptHandler) and node.name:
            local.add(node.name)
    return imports, local - set(imports)


def _alternative(func: ast.expr, scope: _Scope) -> str | None:
    """The ctx alternative when `func` names a known offender, else None."""
    for name in _candidates(func, scope):
        if name in _EXACT:
            return _EXACT[name]
        for prefix, alternative in _PREFIXES.items():
            if name.startswith(prefix):
                return alternative
    return None


def _candidates(func: ast.expr, scope: _Scope) -> Iterator[str]:
    """The full dotted names the called expression may stand for."""
    parts: list[str] = []
    while isinstance(func, ast.Attribute):
        parts.insert(0, func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        return
    base, rest = func.id, parts
    if base in scope.imports:
        yield ".".join([scope.imports[base], *rest])
        return
    if base in scope.local:
        return
    obj = scope.globals.get(base, _MISSING)
    if obj is _MISSING:
        obj = getattr(builtins, base, _MISSING)
    if isinstance(obj, ModuleType):
        yield ".".join([obj.__name__, *rest])
    while isinstance(obj, ModuleType) and rest:  # follow re-exports to where they are defined
        obj, rest = getattr(obj, rest[0], _MISSING), rest[1:]
    if obj is not _MISSING and (name := _name_of(obj)):
        yield ".".join([name, *rest])


def _name_of(obj: object) -> str | None:
    """`module.Qualname` of a class, function or method; of its class for other objects."""
    if not isinstance(obj, type | FunctionType | BuiltinFunctionType | MethodType):
        obj = type(obj)
    module = getattr(obj, "__module__", None)
    owner = getattr(obj, "__self__", None)
    if module is None and owner is not None:  # a builtin method such as datetime.now
        module = (owner if isinstance(owner, type) else type(owner)).__module__
    qualname = getattr(obj, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else None
