"""The README works word for word: its Python snippet as pasted, its command-line walkthrough.

The walkthrough is typed into one shell that starts in the clone, as a reader's does after
``make demo`` (``tests/console_kit.py`` says how, and what it normalises); its first line,
``. .venv/bin/activate``, puts the bin directory of the interpreter running the tests first on
PATH instead. Its worker runs in the background and is stopped by the walkthrough itself (or by
the session's end, if the walkthrough fails half way).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .console_kit import ROOT, fenced_blocks, normalise, render, run_blocks

README = (ROOT / "README.md").read_text()


def test_the_python_snippet_runs_as_pasted_and_prints_the_result(tmp_path: Path) -> None:
    [snippet] = fenced_blocks(README, "python")
    [shown] = fenced_blocks(README, "text")
    (tmp_path / "shop.py").write_text(snippet)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # durable from this checkout
    env.pop("DURABLE_STORE", None)
    for _ in range(2):  # and a second time, on the store the first run left
        done = subprocess.run(
            [sys.executable, "-W", "error", "shop.py"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == shown
        assert done.stderr == ""


def test_the_command_line_walkthrough_prints_what_it_shows(tmp_path: Path) -> None:
    [walkthrough] = fenced_blocks(README, "console")
    [(steps, outputs)] = run_blocks([walkthrough], ROOT, tmp_path)
    assert normalise(render(steps, outputs)) == normalise(walkthrough)
