"""Help off a terminal without rich: every command with its whole summary, under its panel.

Off a terminal ``durable`` prints click's plain help rather than rich's panels (``launch``), and
click's command listing cuts each summary to what fits one line ("..."). :class:`PlainHelpGroup`
lists what rich's panels list: the first paragraph of each command's help, whole (wrapped to the
width), under the heading of its ``rich_help_panel``, the panels in the order rich shows them.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from typer.core import TyperGroup

if TYPE_CHECKING:  # click's types, under the name this typer release gives them
    from typer._click import Command, Context, HelpFormatter

#: the panel of a command registered without one (rich's name for it, shown first)
DEFAULT_PANEL = "Commands"


class PlainHelpGroup(TyperGroup):
    """A typer group whose plain help lists whole summaries by panel (rich help unchanged)."""

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        panels: dict[str, list[tuple[str, str]]] = {DEFAULT_PANEL: []}
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            panel = getattr(command, "rich_help_panel", None) or DEFAULT_PANEL
            panels.setdefault(panel, []).append((name, summary(command)))
        for panel, rows in panels.items():
            if rows:
                with formatter.section(panel):
                    formatter.write_dl(rows)


def summary(command: Command) -> str:
    """What rich's listing shows of a command: its short help, else its help's first
    paragraph (on one line: the formatter wraps it)."""
    text = command.short_help or command.help or ""
    first = inspect.cleandoc(text).split("\n\n", 1)[0]
    return " ".join(first.split())
