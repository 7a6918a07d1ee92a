"""``durable`` builds only the command a process runs, and off a terminal prints help without rich
(W11): the same commands, help and errors as the app with every command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from durable._cli.app import ELSEWHERE, OWN, app
from durable._cli.launch import for_args
from durable._cli.plain_help import summary

ROOT = Path(__file__).resolve().parent.parent
FULL = typer.main.get_command(app)
NAMES = list(FULL.commands)  # type: ignore[attr-defined]
#: the panels of ``durable --help``, in order
PANELS = ["Workers", "Instances", "Control", "Maintenance", "Activities"]


def help_text(the_app: typer.Typer, *args: str) -> str:
    result = CliRunner().invoke(the_app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    return result.stdout


def registered(the_app: typer.Typer) -> list[str]:
    return list(typer.main.get_command(the_app).commands)  # type: ignore[attr-defined]


#: the commands in the order ``--help`` lists them (within each panel)
IN_ORDER = [
    *("worker", "dashboard", "workers", "start", "status", "list", "history"),
    *("raise-event", "terminate", "cancel", "suspend", "resume", "purge", "export"),
    *("import", "replay", "rewind", "complete", "fail", "entity", "schedule"),
]


def test_every_command_is_registered_once_in_help_order() -> None:
    assert NAMES == IN_ORDER


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        (["status", "x"], ["status"]),
        (["--debug", "history", "x", "--json"], ["history"]),
        (["-h", "entity", "get"], ["entity"]),
        (["import", "dump.jsonl"], ["import"]),
        ([], NAMES),
        (["--help"], NAMES),
        (["statu"], NAMES),  # not a command: typer's error names the near ones
    ],
    ids=repr,
)
def test_a_process_builds_the_command_it_names(args: list[str], wanted: list[str]) -> None:
    assert registered(for_args(OWN, ELSEWHERE, args, plain=False)) == wanted


@pytest.mark.parametrize("plain", [False, True], ids=["rich", "plain"])
@pytest.mark.parametrize("name", NAMES)
def test_a_command_alone_has_the_full_apps_help(name: str, plain: bool) -> None:
    full = for_args(OWN, ELSEWHERE, [], plain=plain)
    alone = for_args(OWN, ELSEWHERE, [name], plain=plain)
    assert help_text(alone, name) == help_text(full, name)


def test_the_app_is_unchanged_by_running_one_command() -> None:
    for_args(OWN, ELSEWHERE, ["status"], plain=True)
    assert registered(app) == NAMES and app.rich_markup_mode is not None


def test_plain_help_lists_every_command_whole_under_its_panel() -> None:
    text = help_text(for_args(OWN, ELSEWHERE, [], plain=True))
    assert "╭" not in text  # no rich panel
    flat = " ".join(text.split())
    for name, command in FULL.commands.items():  # type: ignore[attr-defined]
        assert f"{name} {summary(command)}" in flat
    assert "..." not in text.replace("[ARGS]...", "")  # click's cut of a long summary
    headings = [line for line in text.splitlines() if line[:1].isalpha() and line.endswith(":")]
    assert headings == ["Options:", *(f"{panel}:" for panel in PANELS)]


def run_durable(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``durable ARGS`` in a fresh process off a terminal; stderr ends with its loaded modules."""
    code = (
        "import sys\n"
        "from durable._cli.app import main\n"
        "sys.argv = ['durable', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('MODULES', *sorted(sys.modules), file=sys.stderr)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def loaded(result: subprocess.CompletedProcess[str]) -> list[str]:
    return result.stderr.rpartition("MODULES")[2].split()


#: modules a short command must not load: the worker, the other commands' modules, rich
UNUSED = ("durable._worker", "rich", "typer.rich_utils", "durable.testing", "durable.dashboard")
OTHER_COMMANDS = [f"durable._cli.{entry.module[1:]}" for entry in ELSEWHERE if entry is not None]


def test_status_loads_neither_the_worker_nor_other_commands_nor_rich(tmp_path: Path) -> None:
    result = run_durable("status", "nope", "--store", f"sqlite:///{tmp_path}/s.db")
    assert "instance 'nope' not found" in result.stderr
    modules = loaded(result)
    assert "durable._client" in modules
    assert [m for m in modules if m.startswith(UNUSED) or m in OTHER_COMMANDS] == []


def test_help_off_a_terminal_loads_no_rich() -> None:
    result = run_durable("--help", env={"DURABLE_STORE": "sqlite:///unused.db"})
    assert all(name in result.stdout for name in NAMES)
    assert [m for m in loaded(result) if m.startswith(("rich", "typer.rich_utils"))] == []


def test_help_on_a_terminal_is_richs_panels() -> None:
    # TTY_COMPATIBLE=1 makes rich (and the launcher) treat the pipe as a terminal
    result = run_durable("--help", env={"TTY_COMPATIBLE": "1"})
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)  # rich's styles
    assert "╭─ Workers" in text and "╭─ Activities" in text
