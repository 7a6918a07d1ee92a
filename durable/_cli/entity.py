"""``durable entity get|signal|list``: read and signal durable entities (DESIGN 2a)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .common import JsonOption, StoreOption, parse_json, print_json, reported, show, with_client
from .plain_help import PlainHelpGroup

entity = typer.Typer(
    name="entity",
    cls=PlainHelpGroup,
    help="Read and signal durable entities.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The entity's registered name.")]
KeyArg = Annotated[str, typer.Argument(metavar="KEY", help="The entity's key.")]


def _entity_id(name: str, key: str) -> Any:
    from .._entities import EntityId

    with reported():
        return EntityId(name, key)
    raise AssertionError("unreachable")  # pragma: no cover (reported() exits on errors)


@entity.command()
def get(name: NameArg, key: KeyArg, store: StoreOption = None) -> None:
    """Print the entity's state as JSON (null when it was never touched or was deleted)."""
    entity_id = _entity_id(name, key)
    print_json(with_client(store, lambda client: client.get_entity(entity_id)))


@entity.command()
def signal(
    name: NameArg,
    key: KeyArg,
    operation: Annotated[str, typer.Argument(metavar="OP", help="The operation to run.")],
    arg: Annotated[
        str | None, typer.Option(metavar="JSON", help="The operation's argument, as JSON.")
    ] = None,
    store: StoreOption = None,
) -> None:
    """Send operation OP to the entity (it runs on a worker that registers the entity)."""
    entity_id = _entity_id(name, key)
    with reported():
        value = None if arg is None else parse_json(arg, "--arg")
    with_client(store, lambda client: client.signal_entity(entity_id, operation, value))
    typer.echo(f"signalled {operation!r} to entity {name}/{key}")


@entity.command("list")
def list_(
    name: Annotated[
        str | None, typer.Option(metavar="NAME", help="Only entities of this name.")
    ] = None,
    json_output: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """List the entities that have a state or are locked, most recently changed first."""
    found = with_client(store, lambda client: client.list_entities(name))
    rows = [
        {
            "name": info.entity_id.name,
            "key": info.entity_id.key,
            "updated_at": info.updated_at.isoformat(),
            "locked_by": info.locked_by,
        }
        for info in found
    ]
    if json_output:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("NAME", "KEY", "UPDATED", "LOCKED BY")
    for row in rows:
        table.add_row(row["name"], row["key"], row["updated_at"], row["locked_by"] or "")
    show(table)
