"""Run the console sessions of the docs as a reader would, and compare what they print.

A ```console block is a terminal session: lines that start with ``$ `` are commands, the lines
after one are what it printed (stdout and stderr together, as on a terminal). ``Session`` types
the commands into one ``bash`` process, so ``export``, ``cd`` and background jobs (``&``,
``%1``) carry from one command to the next, exactly as in the reader's shell.

What a reader's run prints differs from the docs only where it must: the moments, durations,
process ids, worker ids and host names of that run. ``normalise`` replaces those (the regexes in
``VARYING``) in both texts, and the comparison is exact for everything else.

A reader types slower than a test: before a ``durable status ID`` or ``durable history ID``
whose shown output has a status or a number of events, the session polls (with the same command,
``--json``) until the instance shows that status or that many events, with a generous timeout.
Nothing waits a fixed time.

``python -m tests.console_kit FILE.md ...`` runs the console blocks of those files in a fresh
temporary directory and rewrites their outputs with what the run printed (``--check`` only
compares): this is how the docs' outputs are made, from real runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: a generous bound for one command, and for one wait on an instance
TIMEOUT = 60.0

#: what must vary between two runs of the same session, and what stands for it
VARYING: list[tuple[re.Pattern[str], str]] = [
    # a log line's moment: 2026-11-23T11:31:08.103Z
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)"), "<TIME>"),
    # a table's moment: 2026-11-23 11:31:09.615, 2026-11-23 11:31:09 or 2026-11-23 11:31
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d(?:\.\d+)?)?"), "<TIME>"),
    # a duration: 8 ms, 1.01 s, 0.6 s
    (re.compile(r"\b\d+(?:\.\d+)? (?:ms|s)\b"), "<DURATION>"),
    # a process id in a log line: [10810]
    (re.compile(r"\[\d+\]"), "[<PID>]"),
    # a worker id, host:pid:random: vm:10810:317c141a
    (re.compile(r"\b[\w.-]+:\d+:[0-9a-f]{8}\b"), "<WORKER>"),
    # a temporary directory made by mktemp or tempfile
    (re.compile(r"/tmp/[\w./-]*?/(?=[\w.-]+\.db\b)"), "<TMP>/"),
]

#: commands of the docs that set up the reader's machine, and what the test runs instead: the
#: interpreter running the tests already has durable installed from this clone
SETUP = {
    r"\. \.venv/bin/activate": 'export PATH="{bin}:$PATH"',
    r"python3? -m venv \.venv": "true",
    r"pip (?:install|wheel) .*": "true",
}

MARK = "__console_kit_done__"


def normalise(text: str) -> str:
    """``text`` with what must vary replaced, runs of spaces made one, line ends stripped.

    Column widths follow the values that vary, so spaces are compared as one.
    """
    for pattern, stand_in in VARYING:
        text = pattern.sub(stand_in, text)
    lines = [re.sub(r" {2,}", " ", line).rstrip() for line in text.splitlines()]
    return "\n".join(lines).strip("\n")


def fenced_blocks(markdown: str, language: str) -> list[str]:
    """The bodies of the ```language blocks of ``markdown``, in order."""
    pattern = re.compile(rf"^```{re.escape(language)}[^\n]*\n(.*?)^```\s*$", re.M | re.S)
    return [match.group(1) for match in pattern.finditer(markdown)]


@dataclass
class Step:
    """One command of a session and the output the docs show for it."""

    command: str
    shown: list[str] = field(default_factory=list)


def parse_session(block: str) -> list[Step]:
    """The steps of one ```console block."""
    steps: list[Step] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append(Step(line[2:]))
        elif steps:
            steps[-1].shown.append(line)
        elif line.strip():
            raise ValueError(f"output before the first command: {line!r}")
    return steps


def render(steps: list[Step], outputs: list[list[str]]) -> str:
    """A session as the docs show it."""
    lines: list[str] = []
    for step, output in zip(steps, outputs, strict=True):
        lines.append(f"$ {step.command}")
        lines.extend(output)
    return "\n".join(lines)


class Session:
    """One ``bash`` process that the steps are typed into, in ``cwd``, with ``env``."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.bin = Path(sys.executable).parent
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # its background jobs share its process group: see close()
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def run(self, command: str) -> list[str]:
        """Type ``command`` (stdin from /dev/null, as a terminal's child would not read ours)."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{{ {command}\n}} </dev/null\nprintf '%s\\n' {MARK}\n")
        self.process.stdin.flush()
        output: list[str] = []
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"{command!r} did not finish in {TIMEOUT} s") from None
            if line is None:
                raise RuntimeError(f"the shell ended during {command!r}: {output}")
            before, mark, _ = line.partition(MARK)
            if mark:
                if before:
                    output.append(before)
                return output
            output.append(line)

    def step(self, step: Step) -> list[str]:
        """Run one step of the docs, after waiting for the instance state its output shows."""
        command = step.command
        for pattern, replacement in SETUP.items():
            if re.fullmatch(pattern, command.split("  #")[0].strip()):
                self.run(replacement.format(bin=self.bin))
                return []
        self._wait_for_shown_state(command, step.shown)
        return self.run(command)

    def _wait_for_shown_state(self, command: str, shown: list[str]) -> None:
        words = shlex.split(command, comments=True)
        if len(words) < 3 or words[0] != "durable" or words[1] not in ("status", "history"):
            return
        query = shlex.join([*words, *([] if "--json" in words else ["--json"])])
        if words[1] == "status":
            shown_status = re.compile(r'^status\s+(\w+)|^\s*"status": "(\w+)"')
            matches = [m for line in shown if (m := shown_status.match(line))]
            wanted = next((m.group(1) or m.group(2) for m in matches), None)
            done = lambda out: json.loads(out).get("status") == wanted  # noqa: E731
        else:
            wanted = sum(1 for line in shown if re.match(r"\s*\d+(\s|$)", line)) or None
            done = lambda out: len(json.loads(out)) == wanted  # noqa: E731
        if wanted is None:
            return
        deadline = time.monotonic() + TIMEOUT
        while True:
            out = "\n".join(self.run(f"{query} 2>/dev/null"))
            try:
                if done(out):
                    return
            except (ValueError, AttributeError):  # not yet there: the store has no such id
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{command!r}: the instance never showed {wanted!r}: {out}")

    def close(self) -> None:
        """End the shell and whatever it left running (a background worker of a failed run)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()  # the shell ends at the end of its input
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=TIMEOUT)
        self.reader.join(timeout=TIMEOUT)  # the pipe ends when the last writer has gone
        self.process.stdout.close()


def session_env(tmp: Path) -> dict[str, str]:
    """A plain environment: no store, no PYTHONPATH, temporary files under ``tmp``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key in ("PATH", "HOME", "LANG", "LC_ALL", "USER", "SHELL")
    }
    env.setdefault("LANG", "C.UTF-8")
    env["TMPDIR"] = str(tmp)
    return env


def run_blocks(blocks: list[str], cwd: Path, tmp: Path) -> list[tuple[list[Step], list[list[str]]]]:
    """Run the console ``blocks`` one after the other in one session; their steps and outputs."""
    session = Session(cwd, session_env(tmp))
    results = []
    try:
        for block in blocks:
            steps = parse_session(block)
            results.append((steps, [session.step(step) for step in steps]))
    finally:
        session.close()
    return results


def _main(argv: list[str]) -> int:
    check = "--check" in argv
    status = 0
    for name in (arg for arg in argv if arg != "--check"):
        path = Path(name)
        text = path.read_text()
        blocks = fenced_blocks(text, "console")
        with tempfile.TemporaryDirectory() as tmp:
            results = run_blocks(blocks, ROOT, Path(tmp))
        for block, (steps, outputs) in zip(blocks, results, strict=True):
            real = render(steps, outputs)
            if normalise(real) != normalise(block):
                status = 1
                print(f"{name}: differs:\n{real}\n", file=sys.stderr)
                text = text.replace(block, real + "\n", 1)
        if not check:
            path.write_text(text)
    return status


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
