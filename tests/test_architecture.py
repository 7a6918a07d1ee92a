"""The layer table of STYLE.md, enforced.

Every module under `durable/` is read with `ast` (nothing is imported) and its imports are compared
with the table below: a module imports durable modules of its own layer or lower only, and each
layer has its own list of third-party packages. Modules that do not exist yet are skipped; a module
that is not in the table fails, so that the table (and STYLE.md) stays the true picture.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / "durable"

VOCABULARY, CORE, STORES, SHELLS, EDGES = range(5)
LAYER_NAMES = {
    VOCABULARY: "L0 vocabulary",
    CORE: "L1 core",
    STORES: "L2 stores",
    SHELLS: "L3 shells",
    EDGES: "L4 edges",
}

# The table of STYLE.md: a module's layer is its own entry, else its package's (a subsystem
# folder is one layer).
LAYERS: dict[str, int] = {
    "durable._errors": VOCABULARY,
    "durable._events": VOCABULARY,
    "durable._event_base": VOCABULARY,
    "durable._entity_events": VOCABULARY,
    "durable._actions": VOCABULARY,
    "durable._retry": VOCABULARY,
    "durable._durations": VOCABULARY,
    "durable._serde": VOCABULARY,
    "durable._convert": VOCABULARY,
    "durable._scalars": VOCABULARY,
    "durable._hints": VOCABULARY,
    "durable._value_paths": VOCABULARY,
    "durable._encoders": VOCABULARY,
    "durable._status": VOCABULARY,
    "durable._entities": VOCABULARY,
    "durable._telemetry": VOCABULARY,
    "durable._text": VOCABULARY,
    "durable._faults": VOCABULARY,
    "durable._flow": VOCABULARY,
    "durable._schedule": VOCABULARY,
    "durable._core": CORE,
    "durable.stores": STORES,
    "durable._worker": SHELLS,
    "durable._client": SHELLS,
    "durable._entity_client": SHELLS,
    "durable._activity_client": SHELLS,
    "durable._handle": SHELLS,
    "durable._handle_io": SHELLS,
    "durable.testing": EDGES,
    "durable.dashboard": EDGES,
    "durable._cli": EDGES,
    "durable.__main__": EDGES,
    "durable": EDGES,
}
#: the folders whose every module takes the folder's layer
PACKAGES = (
    "durable._core",
    "durable.stores",
    "durable._worker",
    "durable._cli",
    "durable.testing",
    "durable.dashboard",
)
STORES_PREFIX = "durable.stores."

# The layers whose durable modules each layer may import: its own and the lower ones, except that
# the stores (the seam below the core) see the vocabulary only.
MAY_IMPORT: dict[int, frozenset[int]] = {
    VOCABULARY: frozenset({VOCABULARY}),
    CORE: frozenset({VOCABULARY, CORE}),
    STORES: frozenset({VOCABULARY, STORES}),
    SHELLS: frozenset({VOCABULARY, CORE, STORES, SHELLS}),
    EDGES: frozenset({VOCABULARY, CORE, STORES, SHELLS, EDGES}),
}

# Third-party packages each layer may import (the standard library is always allowed, except as
# IMPURE says for the core); None means anything.
THIRD_PARTY: dict[int, frozenset[str] | None] = {
    VOCABULARY: frozenset({"tenacity", "croniter"}),  # croniter: schedules' cron slots
    CORE: frozenset(),
    STORES: frozenset({"anyio", "aiosqlite", "asyncpg", "tenacity"}),
    SHELLS: frozenset({"anyio", "tenacity"}),  # tenacity: the store backoff (store_health)
    EDGES: None,
}

# Optional packages a module may import only lazily: inside a function, or under TYPE_CHECKING.
LAZY_ONLY: dict[str, frozenset[str]] = {
    "durable._serde": frozenset({"pydantic"}),
    "durable._telemetry": frozenset({"opentelemetry"}),
}

# What the sans-I/O core must never import: event loops, drivers, threads, clocks, the OS.
IMPURE = frozenset(
    {"asyncio", "anyio", "aiosqlite", "asyncpg", "time", "threading", "socket", "os"}
)

# Optional extras that `import durable` must not load (they are imported when used).
EXTRAS = ("asyncpg", "pydantic")


@dataclass(frozen=True, slots=True)
class Import:
    """One imported module as the importer names it (durable modules fully resolved)."""

    target: str
    line: int
    lazy: bool

    @property
    def top(self) -> str:
        return self.target.partition(".")[0]

    @property
    def is_durable(self) -> bool:
        return self.top == "durable"


@dataclass(frozen=True, slots=True)
class Module:
    name: str
    path: Path

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    def source(self) -> str:
        return self.path.read_text(encoding="utf-8")

    def __str__(self) -> str:
        return str(self.path.relative_to(ROOT))


def layer_of(module: str) -> int | None:
    if module in LAYERS:
        return LAYERS[module]
    for package in PACKAGES:
        if module.startswith(package + "."):
            return LAYERS[package]
    return None


def module_exists(name: str) -> bool:
    """True for a durable module in the table or on disk (not for a name a module defines)."""
    if name in LAYERS:
        return True
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def existing_modules() -> list[Module]:
    modules = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules.append(Module(".".join(parts), path))
    return modules


def _resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    package = module if is_package else module.rpartition(".")[0]
    parts = package.split(".")
    if level - 1 >= len(parts):
        raise ValueError(f"relative import beyond the top package in {module}")
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{name}" if name else base


def _targets_of_from(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level:
        source = _resolve_relative(module, is_package, node.level, node.module)
    else:
        source = node.module or ""
    if source.partition(".")[0] != "durable":
        return [source]
    # `from durable import _task` imports the module durable._task; `from durable import App`
    # imports the package durable itself.
    return [
        f"{source}.{alias.name}" if module_exists(f"{source}.{alias.name}") else source
        for alias in node.names
    ]


def _is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, lazy: bool) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        yield child, lazy
        child_is_lazy = lazy or _is_type_checking_block(child)
        child_is_lazy |= isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield from _walk(child, child_is_lazy)


def imports_of(module: str, source: str, is_package: bool = False) -> list[Import]:
    """Every import of a module's source, durable ones resolved to full module names."""
    found = []
    for node, lazy in _walk(ast.parse(source), lazy=False):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            targets = _targets_of_from(module, is_package, node)
        else:
            continue
        found += [Import(target, node.lineno, lazy) for target in targets]
    return found


def _durable_violation(layer: int, imp: Import) -> str | None:
    target_layer = layer_of(imp.target)
    if target_layer is None:
        return f"imports {imp.target}, which is not in the layer table"
    if target_layer not in MAY_IMPORT[layer]:
        return f"imports {imp.target} ({LAYER_NAMES[target_layer]}), out of its reach"
    return None


def _external_violation(module: str, layer: int, imp: Import) -> str | None:
    if imp.top in sys.stdlib_module_names:
        if layer == CORE and imp.top in IMPURE:
            return f"imports {imp.target}: the core is sans-I/O"
        return None
    allowed = THIRD_PARTY[layer]
    if allowed is None or imp.top in allowed:
        return None
    if imp.top in LAZY_ONLY.get(module, ()):
        return None if imp.lazy else f"imports {imp.top} at module level (only in a function)"
    return f"imports {imp.top}, which {LAYER_NAMES[layer]} may not use"


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """What is wrong with a module's imports, one line each ("line N: ..."); [] when all is well."""
    layer = layer_of(module)
    if layer is None:
        return [
            f"{module} is not in the layer table: add it to LAYERS in tests/test_architecture.py "
            "(and to the layout of STYLE.md) with the layer it belongs to"
        ]
    problems = []
    for imp in imports_of(module, source, is_package):
        if imp.is_durable:
            problem = _durable_violation(layer, imp)
        else:
            problem = _external_violation(module, layer, imp)
        if problem:
            problems.append(f"line {imp.line}: {problem}")
    return problems


MODULES = existing_modules()
CORE_MODULES = [m for m in MODULES if layer_of(m.name) == CORE]


# --- the package as it is ---------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES, ids=str)
def test_module_is_in_the_layer_table(module: Module) -> None:
    assert layer_of(module.name) is not None, (
        f"{module} is not in the layer table: add {module.name!r} to LAYERS in "
        "tests/test_architecture.py (and to the layout of STYLE.md) with its layer"
    )


@pytest.mark.parametrize("module", MODULES, ids=str)
def test_module_imports_only_its_layer_or_lower(module: Module) -> None:
    layer = layer_of(module.name)
    if layer is None:
        pytest.fail(f"{module} is not in the layer table (see test_module_is_in_the_layer_table)")
    problems = violations(module.name, module.source(), module.is_package)
    assert not problems, f"{module} ({LAYER_NAMES[layer]}):\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("module", CORE_MODULES, ids=str)
def test_core_is_pure(module: Module) -> None:
    tops = {imp.top for imp in imports_of(module.name, module.source(), module.is_package)}
    assert not tops & IMPURE, f"{module} imports {sorted(tops & IMPURE)}"


# The interpreter and the modules it was split into (they run inside every episode).
INTERPRETER_MODULES = ("interpreter", "delivery", "checks", "outcomes", "admission")


@pytest.mark.parametrize("name", INTERPRETER_MODULES)
def test_interpreter_imports_no_loop_and_no_store(name: str) -> None:
    path = PACKAGE_DIR / "_core" / f"{name}.py"
    assert path.exists(), f"durable/_core/{name}.py is listed as an interpreter module but missing"
    targets = {imp.target for imp in imports_of(f"durable._core.{name}", path.read_text("utf-8"))}
    forbidden = {
        t
        for t in targets
        if t.partition(".")[0] in {"asyncio", "anyio", "aiosqlite"}
        or t == "durable.stores"
        or t.startswith(STORES_PREFIX)
    }
    assert not forbidden, f"durable/_core/{name}.py imports {sorted(forbidden)}"


#: each backend is a folder of its own; none reaches into another's
BACKENDS = ("durable.stores.sqlite", "durable.stores.postgres", "durable.stores.memory")


@pytest.mark.parametrize("module", [m for m in MODULES if m.name.startswith(BACKENDS)], ids=str)
def test_backends_do_not_import_each_other(module: Module) -> None:
    own = next(b for b in BACKENDS if module.name.startswith(b))
    others = [b for b in BACKENDS if b != own]
    targets = {imp.target for imp in imports_of(module.name, module.source(), module.is_package)}
    crossing = sorted(t for t in targets if t.startswith(tuple(others)))
    assert not crossing, f"{module} imports another backend: {crossing}"


#: STYLE.md's "modules up to ~400 lines": past this a module splits along a noun
MAX_MODULE_LINES = 450


@pytest.mark.parametrize("module", MODULES, ids=str)
def test_modules_stay_small(module: Module) -> None:
    lines = len(module.source().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module} has {lines} lines (at most {MAX_MODULE_LINES})"


def test_the_store_seam_has_no_callbacks() -> None:
    """Decide, then commit: the store never calls back into a worker or runs user code."""
    source = (PACKAGE_DIR / "stores" / "base.py").read_text("utf-8")
    for name in ("EpisodeRunner", "StartTaker", "then_run", "then_claim", "take_starts"):
        assert name not in source, f"durable/stores/base.py still mentions {name}"


def test_import_durable_leaves_the_extras_unloaded() -> None:
    code = f"import sys, durable; print(' '.join(m for m in {EXTRAS!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"`import durable` loads {result.stdout.strip()}"


# --- the checker itself, on small sources -----------------------------------------------------

RESOLVE_CASES = [
    # (importing module, is a package, source, resolved imports)
    ("durable._worker", False, "import durable._task", ["durable._task"]),
    ("durable._worker", False, "import durable.stores.sqlite as s", ["durable.stores.sqlite"]),
    (
        "durable._worker",
        False,
        "from durable import _core, _retry",
        ["durable._core", "durable._retry"],
    ),
    ("durable._worker", False, "from durable._task import Task", ["durable._task"]),
    ("durable._worker", False, "from durable.stores import base", ["durable.stores.base"]),
    ("durable._worker", False, "from durable.stores import open_store", ["durable.stores"]),
    ("durable._worker", False, "import durable", ["durable"]),
    ("durable.testing", False, "from durable import App", ["durable"]),
    ("durable._worker.worker", False, "from .. import _retry", ["durable._retry"]),
    ("durable._worker", False, "from ._task import Task", ["durable._task"]),
    ("durable._worker", False, "from . import App", ["durable"]),
    ("durable.stores.sqlite", False, "from .. import _errors", ["durable._errors"]),
    ("durable.stores.sqlite", False, "from .._events import Event", ["durable._events"]),
    ("durable.stores.sqlite", False, "from .base import Store", ["durable.stores.base"]),
    ("durable.stores.sqlite", False, "from . import base", ["durable.stores.base"]),
    ("durable.stores", True, "from . import base", ["durable.stores.base"]),
    ("durable.stores", True, "from .. import _errors", ["durable._errors"]),
    ("durable", True, "from ._errors import DurableError", ["durable._errors"]),
    ("durable._errors", False, "from __future__ import annotations", ["__future__"]),
    ("durable._worker", False, "import anyio.abc", ["anyio.abc"]),
    ("durable._worker", False, "from anyio import fail_after", ["anyio"]),
]


@pytest.mark.parametrize(("module", "is_package", "source", "expected"), RESOLVE_CASES)
def test_imports_are_resolved(
    module: str, is_package: bool, source: str, expected: list[str]
) -> None:
    assert [imp.target for imp in imports_of(module, source, is_package)] == expected


LAZY_SOURCE = """
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    import pydantic
def decode(value):
    import pydantic
"""

CHECK_CASES = [
    # (module, source, whether it breaks the table)
    ("durable._events", "from ._errors import DurableError", False),
    ("durable._errors", "from durable import _events", False),
    ("durable._errors", "from durable import App", True),
    ("durable._errors", "import durable._task", True),
    ("durable._retry", "import tenacity", False),
    ("durable._retry", "import anyio", True),
    ("durable._serde", "import pydantic", True),
    ("durable._serde", LAZY_SOURCE, False),
    ("durable._interpreter", "import asyncio", True),
    ("durable._interpreter", "from time import monotonic", True),
    ("durable._interpreter", "import os.path", True),
    ("durable._interpreter", "from durable.stores import base", True),
    ("durable._core.interpreter", "from .context import OrchestrationContext", False),
    ("durable._core.interpreter", "from .delivery import EventDelivery", False),
    ("durable._event_delivery", "import asyncio", True),
    ("durable._core.checks", "from pathlib import Path\nfrom .._errors import Cancelled", False),
    ("durable._outcomes", "from ._worker import Worker", True),
    ("durable._core.context", "import random, uuid, datetime", False),
    ("durable._task", "from ._worker import Worker", True),
    ("durable.stores.sqlite", "import aiosqlite\nfrom .. import _errors", False),
    ("durable.stores.postgres", "import asyncpg\nfrom .base import Store", False),
    ("durable.stores.sqlite", "from .._context import OrchestrationContext", True),
    ("durable.stores.memory", "from durable import _worker", True),
    (
        "durable._worker.worker",
        "import anyio\nfrom ..stores import base\nfrom .._core import task",
        False,
    ),
    ("durable._worker", "import aiosqlite", True),
    ("durable._client", "from . import testing", True),
    ("durable._client", "from ._nonexistent import x", True),
    ("durable.testing", "import asyncpg, anyio\nfrom ._worker import Worker", False),
    ("durable._cli", "import typer", False),
    ("durable._new_thing", "", True),
    ("durable.stores.redis", "from .. import _errors", False),
]


@pytest.mark.parametrize(("module", "source", "breaks"), CHECK_CASES)
def test_checker_judges_sources(module: str, source: str, breaks: bool) -> None:
    assert bool(violations(module, source)) is breaks, violations(module, source)
