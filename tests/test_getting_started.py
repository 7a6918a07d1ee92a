"""docs/getting-started.md works word for word, in a fresh directory.

The page is followed in order in one shell (``tests/console_kit.py``): each ```python block
with a ``title="FILE"`` is saved as FILE when the reader reaches it, and each ```console block
is typed in and its output compared. The install commands (``python3 -m venv``, ``. .venv/bin/
activate``, ``pip install``, ``pip wheel``) are the one part replaced: the interpreter running
the tests already has durable installed from this clone, and its bin directory goes first on
PATH. That the extras the page names exist is checked against pyproject.toml.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from .console_kit import ROOT, Session, normalise, parse_session, render, session_env

PAGE = (ROOT / "docs" / "getting-started.md").read_text()
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```\s*$", re.M | re.S)


def test_the_page_runs_word_for_word(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    session = Session(project, session_env(tmp_path))
    shown: list[str] = []
    ran: list[str] = []
    try:
        for match in FENCE.finditer(PAGE):
            language, info, body = match.groups()
            title = re.search(r'title="([^"]+)"', info)
            if language == "python" and title:
                (project / title.group(1)).write_text(body)
            elif language == "console":
                steps = parse_session(body)
                outputs = [session.step(step) for step in steps]
                shown.append(normalise(body))
                ran.append(normalise(render(steps, outputs)))
    finally:
        session.close()
    assert len(ran) >= 5
    assert ran == shown


def test_the_extras_it_names_exist() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = set(pyproject["project"]["optional-dependencies"])
    named = {
        extra.strip()
        for group in re.findall(r"durable[^\s\"]*\[([\w,]+)\]", PAGE)
        for extra in group.split(",")
    }
    named |= set(re.findall(r"^\| `(\w+)` \|", PAGE, re.M))
    assert named, "the page names no extras"
    assert named <= extras - {"dev"}
