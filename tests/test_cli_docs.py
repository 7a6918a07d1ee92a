"""docs/cli.md is one session run from the clone: every console block's output is what it shows.

The blocks are typed into one shell in order (``tests/console_kit.py`` says how, and what it
normalises), so the page's instances, workers and files carry from one block to the next. Its
two background workers are stopped by the page's last block (or by the session's end, if the
page fails half way). ``python -m tests.console_kit docs/cli.md`` rewrites the outputs from a
new run.
"""

from __future__ import annotations

from pathlib import Path

from .console_kit import ROOT, fenced_blocks, normalise, render, run_blocks


def test_every_console_block_of_the_cli_page_prints_what_it_shows(tmp_path: Path) -> None:
    blocks = fenced_blocks((ROOT / "docs" / "cli.md").read_text(), "console")
    assert len(blocks) >= 10
    results = run_blocks(blocks, ROOT, tmp_path)
    ran = [normalise(render(steps, outputs)) for steps, outputs in results]
    assert ran == [normalise(block) for block in blocks]
