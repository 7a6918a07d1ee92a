"""docs/testing.md works as written: its files make a project whose tests pass, and its
snippets run.

The blocks titled ``shop.py``, ``tests/test_shop.py`` and ``pyproject.toml`` are written to a
fresh directory and pytest runs there, in a process of its own (the plugin loads through its
entry point, as in a user's project). The ``async with Environment(...)`` snippets run against
that ``shop.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "testing.md").read_text("utf-8")


def _titled(title: str) -> str:
    found = re.search(rf'^```\w+ title="{re.escape(title)}"\n(.*?)^```$', PAGE, re.M | re.S)
    assert found, f"docs/testing.md has no block titled {title!r}"
    return found.group(1)


def _snippets() -> list[str]:
    blocks = re.findall(r"^```python\n(.*?)^```$", PAGE, re.M | re.S)
    return [block for block in blocks if "async with Environment(" in block]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), str(ROOT)])}
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_guides_project_passes_its_tests(tmp_path: Path) -> None:
    for title in ("shop.py", "tests/test_shop.py", "pyproject.toml"):
        (tmp_path / title).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / title).write_text(_titled(title))
    done = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    shown = re.search(r"^\$ pytest -q\n(.*?)^```$", PAGE, re.M | re.S)
    assert shown is not None
    summary = shown.group(1).strip().splitlines()[-1]
    assert re.sub(r" in [\d.]+s", "", done.stdout.strip().splitlines()[-1]) == re.sub(
        r" in [\d.]+s", "", summary
    )


def test_the_guides_snippets_run(tmp_path: Path) -> None:
    (tmp_path / "shop.py").write_text(_titled("shop.py"))
    snippets = _snippets()
    assert len(snippets) == 2
    functions = "".join(
        f"async def snippet_{i}():\n{textwrap.indent(snippet, '    ')}\n\n"
        for i, snippet in enumerate(snippets)
    )
    calls = "".join(f"anyio.run(snippet_{i})\n" for i in range(len(snippets)))
    program = (
        "import anyio\nfrom datetime import timedelta\nimport durable\n"
        "from durable.testing import Environment\nfrom shop import app, charge, checkout\n\n"
        f"{functions}{calls}"
    )
    (tmp_path / "snippets.py").write_text(program)
    done = _run(["-W", "error", "snippets.py"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "receipt-x: no answer, held"
