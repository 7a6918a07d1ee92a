"""Run the ``durable`` app as one process: build only the command the process runs (W11).

typer turns every registered command into a click command (reading its signature, making its
options) each time the app runs: for 26 commands that cost a short command such as ``durable
status ID`` a fifth of its run. :func:`for_args` hands typer a copy of the app that holds only
the command named on the command line, and imports only that command's module (the commands
that live outside ``app``, listed in ``app.ELSEWHERE``), so its parameters, help and errors are
exactly the full app's; without a command name (``durable``, ``--help``, ``--version``) or with a
name that is not a command (typer's "No such command" error, with its suggestions) the copy holds
every command.

Off a terminal (both stdout and stderr redirected, as in a script or a test) help and usage
errors are click's plain text rather than rich's panels: importing rich's layout (with its
markdown parser) cost ``durable --help`` about a third of its run. A person at a terminal sees
rich's panels as before.
"""

from __future__ import annotations

import copy
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import typer
from typer.main import get_command_name, solve_typer_info_defaults
from typer.models import CommandInfo, TyperInfo

from .plain import off_terminal


@dataclass(frozen=True)
class Elsewhere:
    """A command defined in a module of its own (``module`` relative to this package): its
    function (or sub-app, when ``group``) ``attr``, registered under ``name`` in ``panel``."""

    name: str
    module: str
    attr: str
    panel: str
    group: bool = False


def for_args(
    own: typer.Typer,
    elsewhere: Sequence[Elsewhere | None],
    args: Sequence[str],
    *,
    plain: bool,
) -> typer.Typer:
    """A copy of ``own`` with the commands to run ``args``: the one they name, else all of them
    (``own``'s where ``elsewhere`` holds ``None``); without rich's panels when ``plain``."""
    picked = copy.copy(own)  # the registered lists are new ones: ``own`` never changes
    picked.registered_commands = []
    picked.registered_groups = []
    if plain:
        picked.rich_markup_mode = None
    # The global options (--debug, --version, -h/--help) take no value: the first word that is
    # not an option is the command's name.
    name = next((arg for arg in args if not arg.startswith("-")), None)
    known: set[str | None] = {entry.name for entry in elsewhere if entry is not None}
    known.update(_command_name(info) for info in own.registered_commands)
    known.update(_group_name(sub_app) for sub_app in own.registered_groups)
    only = name if name in known else None  # None: every command (typer reports a wrong name)
    for entry in elsewhere:
        if entry is None:
            for info in own.registered_commands:
                if only in (None, _command_name(info)):
                    picked.registered_commands.append(info)
            continue
        if only not in (None, entry.name):
            continue
        target = getattr(importlib.import_module(entry.module, __package__), entry.attr)
        if entry.group:
            picked.add_typer(target, rich_help_panel=entry.panel)
        else:
            picked.command(entry.name, rich_help_panel=entry.panel)(target)
    for sub_app in own.registered_groups:
        if only in (None, _group_name(sub_app)):
            picked.registered_groups.append(sub_app)
    return picked


def run(own: typer.Typer, elsewhere: Sequence[Elsewhere | None]) -> None:
    """Run the app on this process's arguments (the ``durable`` console script)."""
    plain = off_terminal(sys.stdout) and off_terminal(sys.stderr)
    for_args(own, elsewhere, sys.argv[1:], plain=plain)(prog_name="durable")


def _command_name(info: CommandInfo) -> str | None:
    """The name typer gives a command (its own, else its function's, dashed)."""
    if info.name:
        return info.name
    return get_command_name(info.callback.__name__) if info.callback else None


def _group_name(info: TyperInfo) -> str | None:
    """The name typer gives a sub-app (``add_typer``'s, its callback's or its ``Typer``'s)."""
    name = solve_typer_info_defaults(info).name
    return name if isinstance(name, str) else None
