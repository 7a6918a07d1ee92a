"""``durable schedule list|pause|resume|trigger``: the schedules the workers keep in the store
(DESIGN 4a, 7)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .common import JsonOption, StoreOption, print_json, show, with_client
from .plain_help import PlainHelpGroup

if TYPE_CHECKING:
    from rich.table import Table

    from .._worker.flow import ScheduleInfo

schedule_app = typer.Typer(
    name="schedule",
    cls=PlainHelpGroup,
    help="List, pause, resume or trigger schedules (declared with app.schedule).",
    no_args_is_help=True,
)
ScheduleId = Annotated[
    str, typer.Argument(metavar="SCHEDULE", help="The schedule's id (its instance id prefix).")
]


@schedule_app.command("list")
def list_schedules(store: StoreOption = None, as_json: JsonOption = False) -> None:
    """List the schedules: what they start, when, whether paused, and their next runs."""
    found: list[ScheduleInfo] = with_client(store, lambda client: client.schedules())
    if as_json:
        print_json([info.to_json() for info in found])
    elif found:
        show(_table(found))
    else:
        typer.echo("no schedules (a worker of an app with app.schedule records them)", err=True)


@schedule_app.command()
def pause(schedule: ScheduleId, store: StoreOption = None) -> None:
    """Pause a schedule: no slot starts until it is resumed."""
    with_client(store, lambda client: client.pause_schedule(schedule))
    typer.echo(f"paused {schedule}")


@schedule_app.command()
def resume(schedule: ScheduleId, store: StoreOption = None) -> None:
    """Resume a schedule from its next slot (slots passed while paused are skipped)."""
    with_client(store, lambda client: client.resume_schedule(schedule))
    typer.echo(f"resumed {schedule}")


@schedule_app.command()
def trigger(schedule: ScheduleId, store: StoreOption = None) -> None:
    """Start one instance of the schedule now; prints its instance id."""

    async def start(client: object) -> str:
        from .._client import Client

        assert isinstance(client, Client)
        handle = await client.trigger_schedule(schedule)
        return handle.instance_id

    typer.echo(with_client(store, start))


def _table(found: list[ScheduleInfo]) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in ("schedule", "orchestrator", "when", "catch up", "state", "next runs (UTC)"):
        table.add_column(column)
    for info in found:
        when = info.cron if info.cron is not None else f"every {info.every:g} s"
        runs = ", ".join(moment.strftime("%Y-%m-%d %H:%M:%S") for moment in info.next_runs)
        table.add_row(
            info.schedule_id,
            info.name,
            when,
            info.catch_up,
            "paused" if info.paused else "active",
            runs or "-",
        )
    return table
