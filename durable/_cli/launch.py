"""Run the ``durable`` app as one process: build only the command the process runs (W11).

typer turns every registered command into a click command (reading its signature, making its
options) each time the app runs: for 26 commands that cost a short command such as ``durable
status ID`` a fifth of its run. :func:`for_args` hands typer a copy of the app that holds only
the command named on the command line, so its parameters, help and errors are exactly the full
app's; without a command name (``durable``, ``--help``, ``--version``) or with a name that is not
a command (typer's "No such command" error, with its suggestions) the copy holds every command.

Off a terminal (both stdout and stderr redirected, as in a script or a test) help and usage
errors are click's plain text rather than rich's panels: importing rich's layout (with its
markdown parser) cost ``durable --help`` about a third of its run. A person at a terminal sees
rich's panels as before.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Sequence

import typer
from typer.main import get_command_name, solve_typer_info_defaults
from typer.models import CommandInfo, TyperInfo

from .plain import off_terminal


def for_args(app: typer.Typer, args: Sequence[str], *, plain: bool) -> typer.Typer:
    """A copy of ``app`` to run with ``args``: only the named command's (when ``args`` name
    one), and without rich's help and error panels when ``plain``."""
    picked = copy.copy(app)  # the registered lists are replaced, never changed in place
    if plain:
        picked.rich_markup_mode = None
    # The global options (--debug, --version, -h/--help) take no value: the first word that is
    # not an option is the command's name.
    name = next((arg for arg in args if not arg.startswith("-")), None)
    if name is None:
        return picked
    commands = [info for info in app.registered_commands if _command_name(info) == name]
    groups = [info for info in app.registered_groups if _group_name(info) == name]
    if commands or groups:
        picked.registered_commands = commands
        picked.registered_groups = groups
    return picked


def run(app: typer.Typer) -> None:
    """Run ``app`` on this process's arguments (the ``durable`` console script)."""
    plain = off_terminal(sys.stdout) and off_terminal(sys.stderr)
    for_args(app, sys.argv[1:], plain=plain)(prog_name="durable")


def _command_name(info: CommandInfo) -> str | None:
    """The name typer gives a command (its own, else its function's, dashed)."""
    if info.name:
        return info.name
    return get_command_name(info.callback.__name__) if info.callback else None


def _group_name(info: TyperInfo) -> str | None:
    """The name typer gives a sub-app (``add_typer``'s, its callback's or its ``Typer``'s)."""
    name = solve_typer_info_defaults(info).name
    return name if isinstance(name, str) else None
