"""The outputs the docs show for the samples are what the samples print.

A page shows a sample's output in a ```text block titled ``python samples/NAME.py``; this test
runs that sample (in a fresh directory, as ``tests/test_samples.py`` does) and compares, after
``console_kit.normalise`` (times and durations) and with the clone's path shown as ``...``.
``python -m tests.test_docs_outputs`` runs the samples and writes what they print into the pages.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from .console_kit import ROOT, normalise

SHOWN = re.compile(r'^```text title="python (samples/\w+\.py)"\n(.*?)^```', re.M | re.S)


def run_sample(sample: str, cwd: Path) -> str:
    """What ``python samples/NAME.py`` prints, with the clone's path shown as ``...``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / sample)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.replace(str(ROOT), "...")


def shown_outputs() -> list[tuple[str, str, str]]:
    found = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        for match in SHOWN.finditer(page.read_text()):
            found.append((str(page.relative_to(ROOT)), match.group(1), match.group(2)))
    return found


def test_the_pattern_pages_show_outputs() -> None:
    assert len(shown_outputs()) >= 9


@pytest.mark.parametrize(("page", "sample", "shown"), shown_outputs())
def test_shown_output_is_printed(page: str, sample: str, shown: str, tmp_path: Path) -> None:
    printed = run_sample(sample, tmp_path)
    assert normalise(printed) == normalise(shown), f"{page} shows another output of {sample}"


if __name__ == "__main__":
    for page in sorted((ROOT / "docs").rglob("*.md")):
        text = page.read_text()
        for match in SHOWN.finditer(text):
            with tempfile.TemporaryDirectory() as tmp:
                printed = run_sample(match.group(1), Path(tmp))
            text = text.replace(match.group(0), match.group(0).replace(match.group(2), printed))
        page.write_text(text)
