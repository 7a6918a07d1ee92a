"""The ``durable`` command line: run workers and operate instances (DESIGN section 7).

Parse, call the ``Client``, print: tables for people, ``--json`` for scripts. Every sub-command
takes ``--store URL`` (or ``DURABLE_STORE``). The worker lives in ``worker``, export and
import in ``dump``, what all commands share (errors, parsing, output) in ``common``.

A command imports what it needs when it runs (the client, the stores, the worker, rich's
tables): ``durable --help`` loads typer and this package's light modules only. ``main`` builds
only the command it runs, with its module (``ELSEWHERE``), through ``launch``; ``app``, the app
with every command, is built on first use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._errors import DurableError, OrchestrationFailed, StoreError, Terminated
from .._status import Status
from .common import (
    DEBUG_ENV,
    InstanceArg,
    JsonOption,
    StoreOption,
    fail,
    parse_duration,
    parse_json,
    plural,
    print_json,
    progress,
    reported,
    settings,
    show,
    with_client,
)
from .launch import Elsewhere, for_args
from .lazy_params import install as _install_lazy_params
from .plain_help import PlainHelpGroup

if TYPE_CHECKING:
    from .._client import Client, InstanceHandle
    from ..stores.base import Store

_install_lazy_params()  # values that need no conversion skip pydantic (W11)

#: instances listed per page by ``purge --status/--older-than``
PURGE_PAGE = 200
FINISHED = [status for status in Status if status.is_terminal]

app = typer.Typer(
    name="durable",
    cls=PlainHelpGroup,  # off a terminal: whole summaries by panel, as rich shows them
    help="Run durable workers and operate orchestration instances.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # errors are one line (or a plain traceback with --debug)
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        import importlib.metadata

        try:
            version = importlib.metadata.version("durable")
        except importlib.metadata.PackageNotFoundError:  # running from a source tree
            version = "unknown"
        typer.echo(f"durable {version}")
        raise typer.Exit()


@app.callback()
def _global(
    debug: Annotated[
        bool, typer.Option("--debug", envvar=DEBUG_ENV, help="Show the traceback of errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Run durable workers and operate orchestration instances."""
    settings.debug = debug


#: the commands that live in modules of their own, in the order ``--help`` lists them (``None``:
#: this module's commands); a process imports the module of the command it runs, ``--help``
#: every one (W11)
ELSEWHERE = (
    Elsewhere("worker", ".worker", "worker", "Workers"),
    Elsewhere("dashboard", ".dashboard", "dashboard", "Instances"),
    Elsewhere("workers", ".workers", "workers", "Workers"),
    None,
    Elsewhere("export", ".dump", "export", "Maintenance"),
    Elsewhere("import", ".dump", "import_", "Maintenance"),
    Elsewhere("replay", ".replay", "replay", "Maintenance"),
    Elsewhere("rewind", ".control", "rewind", "Control"),
    Elsewhere("complete", ".control", "complete", "Activities"),
    Elsewhere("fail", ".control", "fail", "Activities"),
    Elsewhere("entity", ".entity", "entity", "Instances", group=True),
    Elsewhere("schedule", ".schedules", "schedule_app", "Workers", group=True),
)


# -- start and read ----------------------------------------------------------------------------


@app.command(rich_help_panel="Instances")
def start(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The orchestrator's registered name.")
    ],
    input_json: Annotated[
        str | None,
        typer.Option("--input", metavar="JSON", help="The orchestrator's argument, as JSON."),
    ] = None,
    instance_id: Annotated[
        str | None, typer.Option("--id", help="The instance id (default: a new UUID).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result and print it.")] = False,
    timeout: Annotated[
        float | None, typer.Option(min=0, metavar="SECONDS", help="Give up waiting after this.")
    ] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start an instance of orchestrator NAME and print its id."""
    with reported():
        args = () if input_json is None else (parse_json(input_json, "--input"),)

    async def run(client: Client) -> None:
        handle = await client.start(name, *args, instance_id=instance_id)
        if not as_json:
            typer.echo(handle.instance_id)  # at once: a person may want it while --wait waits
        elif not wait:
            print_json({"instance_id": handle.instance_id})
        from .workers import warn_if_unserved

        await warn_if_unserved(client, name)
        if wait:
            await _print_outcome(handle, timeout, as_json)

    with_client(store, run)


async def _print_outcome(handle: InstanceHandle, timeout: float | None, as_json: bool) -> None:
    """Wait for the instance to finish; print its output (with ``--json``: its final status).

    A failed or terminated instance still prints its status with ``--json``, then is an error.
    """
    from .plain import status_dict, value_text

    try:
        output = await handle.result(timeout=timeout)
    except (OrchestrationFailed, Terminated):
        if as_json:
            print_json(status_dict(await handle.status()))
        raise
    if as_json:
        print_json(status_dict(await handle.status()))
    else:
        typer.echo(value_text(output, limit=None))


def _read(
    store: str | None, instance_id: str, read: Callable[[InstanceHandle], Awaitable[Any]]
) -> Any:
    """Read something of one instance (``InstanceNotFound`` names the id)."""
    return with_client(store, lambda client: read(client.get(instance_id)))


@app.command(rich_help_panel="Instances")
def status(
    instance_id: InstanceArg, store: StoreOption = None, as_json: JsonOption = False
) -> None:
    """Show an instance: status, times, input, output, error, custom status."""
    from .plain import off_terminal, plain_grid, status_dict, status_rows

    found = _read(store, instance_id, lambda handle: handle.status())
    if as_json:
        print_json(status_dict(found))
        return
    plain = plain_grid(status_rows(found)) if off_terminal() else None
    if plain is not None:  # what rich would print, without loading it (W11)
        typer.echo(plain)
        return
    from .render import status_table

    show(status_table(found))


@app.command("list", rich_help_panel="Instances")
def list_instances(
    status: Annotated[
        Status | None, typer.Option(case_sensitive=False, help="Only instances in this status.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Only instances of this orchestrator.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    tag: Annotated[
        list[str] | None,
        typer.Option(metavar="KEY=VALUE", help="Only instances with this tag (repeatable)."),
    ] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """List instances, newest first."""
    from .._flow import parse_tag
    from .plain import status_dict
    from .render import instances_table

    with reported():
        tags = dict(parse_tag(text) for text in tag or ())
    found = with_client(
        store, lambda client: client.list(status=status, name=name, limit=limit, tags=tags)
    )
    if as_json:
        print_json([status_dict(item) for item in found])
    elif found:
        show(instances_table(found))
    else:
        typer.echo("no instances match", err=True)


@app.command(rich_help_panel="Instances")
def history(
    instance_id: InstanceArg, store: StoreOption = None, as_json: JsonOption = False
) -> None:
    """Show an instance's history as a timeline: seq, kind, name, time, duration, error."""
    from .._events import event_to_dict
    from .render import history_table, timeline

    events = _read(store, instance_id, lambda handle: handle.history())
    if as_json:
        print_json([event_to_dict(event) for event in events])
    else:
        show(history_table(timeline(events)))


# -- control -----------------------------------------------------------------------------------

ReasonOption = Annotated[str | None, typer.Option(help="Why (kept in the history).")]


def _control(
    store: str | None,
    instance_id: str,
    verb: str,
    call: Callable[[InstanceHandle], Awaitable[None]],
) -> None:
    """Send one control request; a worker applies it on the instance's next episode."""
    _read(store, instance_id, call)
    typer.echo(f"{verb} requested for instance {instance_id!r}")


@app.command("raise-event", rich_help_panel="Control")
def raise_event(
    instance_id: InstanceArg,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The event name the orchestrator waits for.")
    ],
    payload: Annotated[
        str | None, typer.Option(metavar="JSON", help="The event's payload, as JSON.")
    ] = None,
    store: StoreOption = None,
) -> None:
    """Send event NAME to an instance (kept until the orchestrator waits for it)."""
    with reported():
        value = None if payload is None else parse_json(payload, "--payload")
    _read(store, instance_id, lambda handle: handle.raise_event(name, value))
    typer.echo(f"raised event {name!r} on instance {instance_id!r}")


@app.command(rich_help_panel="Control")
def terminate(
    instance_id: InstanceArg, reason: ReasonOption = None, store: StoreOption = None
) -> None:
    """End an instance TERMINATED at once (no orchestrator code runs)."""
    _control(store, instance_id, "terminate", lambda handle: handle.terminate(reason))


@app.command(rich_help_panel="Control")
def cancel(
    instance_id: InstanceArg, reason: ReasonOption = None, store: StoreOption = None
) -> None:
    """Cancel an instance cooperatively (its code may compensate, then it ends CANCELED)."""
    _control(store, instance_id, "cancel", lambda handle: handle.cancel(reason))


@app.command(rich_help_panel="Control")
def suspend(
    instance_id: InstanceArg, reason: ReasonOption = None, store: StoreOption = None
) -> None:
    """Pause an instance: it runs nothing until resumed, and keeps the events it receives."""
    _control(store, instance_id, "suspend", lambda handle: handle.suspend(reason))


@app.command(rich_help_panel="Control")
def resume(instance_id: InstanceArg, store: StoreOption = None) -> None:
    """Resume a suspended instance."""
    _control(store, instance_id, "resume", lambda handle: handle.resume())


# -- purge -------------------------------------------------------------------------------------


@app.command(rich_help_panel="Maintenance")
def purge(
    instance_id: Annotated[
        str | None, typer.Argument(metavar="ID", help="The finished instance to delete.")
    ] = None,
    status: Annotated[
        Status | None,
        typer.Option(case_sensitive=False, help="Purge finished instances in this status."),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option(metavar="AGE", help="Purge instances finished longer ago, e.g. 7d, 12h."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    store: StoreOption = None,
) -> None:
    """Delete finished instances with their histories: one ID, or by --status and --older-than."""
    bulk = status is not None or older_than is not None
    if instance_id is not None and bulk:
        raise typer.BadParameter("give an ID or --status/--older-than, not both", param_hint="ID")
    if instance_id is None and not bulk:
        raise typer.BadParameter("give an ID, or --status and/or --older-than", param_hint="ID")
    if instance_id is not None:
        removed = with_client(store, partial(_purge_one, instance_id=instance_id, ask=not yes))
        children = f" and {plural(removed - 1, 'sub-orchestration')}" if removed > 1 else ""
        typer.echo(f"purged instance {instance_id!r}{children}")
        return
    with reported():
        if status is not None and not status.is_terminal:
            finished = ", ".join(FINISHED)
            fail(f"--status {status}: only finished instances ({finished}) can be purged")
        age = parse_duration(older_than or "0s", "--older-than")
        cutoff = datetime.now(UTC) - age
        statuses = [status] if status is not None else FINISHED
        if not yes:
            typer.confirm(
                f"Purge every {status or 'finished'} instance last updated before "
                f"{cutoff:%Y-%m-%d %H:%M:%S} UTC?",
                abort=True,
            )
    count = with_client(store, lambda client: _purge_matching(client.store, statuses, cutoff))
    typer.echo(f"purged {plural(count, 'instance')}")


async def _purge_one(client: Client, *, instance_id: str, ask: bool) -> int:
    handle = client.get(instance_id)
    found = await handle.status()
    if not found.status.is_terminal:
        fail(
            f"instance {instance_id!r} is {found.status}: only finished instances can be purged "
            "(terminate it first)"
        )
    if ask:
        import anyio

        question = (
            f"Purge instance {instance_id!r} ({found.name}, {found.status}) and its history "
            "(with any sub-orchestrations)?"
        )
        await anyio.to_thread.run_sync(partial(typer.confirm, question, abort=True))
    return await handle.purge()


async def _purge_matching(store: Store, statuses: list[Status], cutoff: datetime) -> int:
    """Purge page after page of matching instances (each page is gone when the next is read)."""
    from ..stores.base import InstanceFilter

    purged = 0
    with progress(total_known=False) as bar:
        task = bar.add_task("purging", total=None)
        for wanted in statuses:
            while True:
                where = InstanceFilter(status=wanted, updated_before=cutoff, limit=PURGE_PAGE)
                page = await store.list_instances(where)
                done = [await _purge_if_done(store, r.instance_id) for r in page]
                purged += sum(done)
                bar.update(task, completed=purged)
                if len(page) < PURGE_PAGE or not any(done):  # no progress: never spin
                    break
    return purged


async def _purge_if_done(store: Store, instance_id: str) -> int:
    """Purge one instance found by a bulk purge: 0 when it is gone already (a parent's purge
    took it) or keeps a sub-orchestration that is still running (it stays, as the child)."""
    try:
        return await store.purge_instance(instance_id)
    except StoreError:
        raise
    except DurableError:
        return 0


# -- the app ---------------------------------------------------------------------------------

#: the callback and this module's commands; ``app`` adds the others (ELSEWHERE)
OWN = app
del app  # ``app``, every command, is built on first use: ``main`` imports only what it runs

if not TYPE_CHECKING:  # type checkers read ``app`` above (a Typer)

    def __getattr__(name: str) -> typer.Typer:
        """``app``: the app with every command (the tests' and a program's ``durable`` app)."""
        if name != "app":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        built = globals()["app"] = for_args(OWN, ELSEWHERE, [], plain=False)
        return built


def main() -> None:
    """The ``durable`` console script (also ``python -m durable``)."""
    from .launch import run

    run(OWN, ELSEWHERE)  # builds only the command it runs (W11)
