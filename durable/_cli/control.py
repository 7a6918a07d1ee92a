"""``durable complete``, ``durable fail`` and ``durable rewind``: external completion of an
activity attempt by its token, and rewind of a FAILED instance (with a dry run)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .common import InstanceArg, StoreOption, parse_json, reported, with_client

if TYPE_CHECKING:
    from .._client import Client

TokenArg = Annotated[
    str,
    typer.Argument(
        metavar="TOKEN", help="The attempt's token (durable.activity_info().token in the activity)."
    ),
]


def complete(
    token: TokenArg,
    result: Annotated[
        str | None, typer.Option(metavar="JSON", help="The activity's result, as JSON.")
    ] = None,
    store: StoreOption = None,
) -> None:
    """Complete the activity attempt of TOKEN (it returned durable.complete_later())."""
    with reported():
        value = None if result is None else parse_json(result, "--result")

    async def call(client: Client) -> bool:
        return await client.complete_activity(token, value)

    _said(with_client(store, call), "completed")


def fail(
    token: TokenArg,
    message: Annotated[str, typer.Option(help="Why it failed (the ActivityFailed's message).")],
    error_type: Annotated[
        str, typer.Option("--type", help="The error type the orchestrator sees.")
    ] = "durable.ExternalFailure",
    store: StoreOption = None,
) -> None:
    """Fail the activity attempt of TOKEN for good (no further attempt)."""

    async def call(client: Client) -> bool:
        return await client.fail_activity(token, message, error_type=error_type)

    _said(with_client(store, call), "failed")


def _said(recorded: bool, verb: str) -> None:
    if recorded:
        typer.echo(f"activity attempt {verb}")
    else:
        typer.echo("ignored: the activity has its outcome already (the first one counts)")


def rewind(
    instance_id: InstanceArg,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Replay against --app's code and print what it would do; change nothing.",
        ),
    ] = False,
    app_spec: Annotated[
        str | None,
        typer.Option("--app", metavar="MODULE:APP", help="The code a dry run replays against."),
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the history).")] = None,
    store: StoreOption = None,
) -> None:
    """Take a FAILED instance back to before its failure: failed activities (and failed
    sub-orchestrations) run again, completed ones do not."""
    if not dry_run:

        async def go(client: Client) -> None:
            await client.get(instance_id).rewind(reason)

        with_client(store, go)
        typer.echo(f"rewind requested for instance {instance_id!r}")
        return
    with reported():
        if app_spec is None:
            raise typer.BadParameter("a dry run replays the code: give --app MODULE:APP")
        from .serving import load_app

        app = load_app(app_spec)

    async def preview(client: Client) -> list[str]:
        client.app = app
        found = await client.get(instance_id).preview_rewind()
        return [f"a rewind of {instance_id!r} would:", *(f"  {s}" for s in found.steps)]

    for line in with_client(store, preview):
        typer.echo(line)
