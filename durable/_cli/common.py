"""What every ``durable`` sub-command shares: the store option, errors, parsing and output.

A runtime error is one line on stderr (``durable: error: ...``) and exit status 1; the global
``--debug`` flag (or ``DURABLE_DEBUG=1``) prints the traceback first. Usage errors stay typer's
(usage text, exit status 2).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from .._errors import DurableError, InstanceAlreadyExists, InstanceNotFound

if TYPE_CHECKING:  # the client, the store and rich load when a command runs, not for --help
    from rich.console import Console, RenderableType
    from rich.progress import Progress

    from .._client import Client

T = TypeVar("T")

STORE_ENV = "DURABLE_STORE"
DEBUG_ENV = "DURABLE_DEBUG"

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar=STORE_ENV,
        metavar="URL",
        help="Store URL: sqlite:///path.db, sqlite:////abs/path.db or postgresql://...",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]
InstanceArg = Annotated[str, typer.Argument(metavar="ID", help="The instance id.")]


class CliError(Exception):
    """A runtime error the command line reports as one line (its message)."""


class _Settings:
    """Flags of the global callback that the shared helpers read."""

    debug: bool = False


settings = _Settings()


def fail(message: str) -> NoReturn:
    """Stop the command with a one-line error."""
    raise CliError(message)


# -- errors ----------------------------------------------------------------------------------


def _leaf(exc: BaseException) -> BaseException:
    """The one error inside (nested) exception groups of one, as task groups wrap errors."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


# The API's wording of some errors, rephrased for a person at a shell.
_PHRASES: dict[type[BaseException], Callable[[Any], str]] = {
    InstanceNotFound: lambda exc: (
        f"instance {exc.instance_id!r} not found"
        if str(exc).startswith("no instance with id")
        else str(exc)  # an activity token's own message
    ),
    InstanceAlreadyExists: lambda exc: f"an instance with id {exc.instance_id!r} already exists",
}


def describe(exc: BaseException) -> str:
    """The one line that reports ``exc``: the error's own message, which names the culprit."""
    phrase = _PHRASES.get(type(exc))
    if phrase is not None:
        text = phrase(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    elif isinstance(exc, CliError | DurableError | typer.TyperException):
        text = str(exc)
    else:  # a bug or an unexpected failure: say what it was and where to look
        text = f"{type(exc).__name__}: {exc} (run with --debug for the traceback)"
    return " ".join(text.split()) or type(exc).__name__


@contextmanager
def reported() -> Iterator[None]:
    """Turn any error escaping the block into one line on stderr and exit status 1."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise  # typer reports its own (usage errors, a declined confirmation)
    except Exception as exc:
        leaf = _leaf(exc)
        if isinstance(leaf, typer.Exit | typer.Abort | typer.TyperException):
            raise leaf from None
        if isinstance(leaf, BrokenPipeError):  # the reader left (`durable export | head`)
            _silence_stdout()
            raise typer.Exit(1) from None
        if settings.debug:
            traceback.print_exception(exc, file=sys.stderr)
        typer.echo(f"durable: error: {describe(leaf)}", err=True)
        raise typer.Exit(1) from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit raises no second error."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


# -- the store ---------------------------------------------------------------------------------


def store_url(given: str | None) -> str:
    """The store URL from ``--store`` or ``DURABLE_STORE``; a one-line error when neither, or
    when it names an in-memory store (a command's own, empty, gone when it exits)."""
    if not given:
        fail(f"no store given: pass --store URL or set {STORE_ENV}")
    if given.strip().lower().startswith("memory:"):
        fail(
            f"--store {given}: an in-memory store lives inside one process, so this command "
            "would see an empty store of its own; use sqlite:///path.db or postgresql://..."
        )
    return given


def with_client(store: str | None, action: Callable[[Client], Awaitable[T]]) -> T:
    """Open a ``Client`` on the store, run ``action`` with it, close it; errors reported."""

    import anyio

    from .._client import Client

    async def go() -> T:
        async with Client(store_url(store)) as client:
            return await action(client)

    with reported():
        return anyio.run(go)
    raise AssertionError("unreachable")  # pragma: no cover (reported() exits on errors)


# -- parsing -----------------------------------------------------------------------------------


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str, flag: str) -> Any:
    """The JSON value of a flag's text; a one-line error naming the flag when it is not JSON."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        fail(f"{flag}: malformed JSON: {exc.msg} at column {exc.colno} in {text!r}")
    except (ValueError, RecursionError) as exc:
        fail(f"{flag}: not usable JSON: {exc or 'nested too deeply'}")


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str, flag: str) -> timedelta:
    """``30s``, ``15m``, ``12h``, ``7d``, ``2w`` or combinations (``1h30m``) as a timedelta."""
    compact = text.strip().lower().replace(" ", "")
    parts = _PART.findall(compact)
    if not compact or "".join(number + unit for number, unit in parts) != compact:
        fail(f"{flag} {text!r}: expected a duration such as 30s, 15m, 12h or 7d")
    return timedelta(seconds=sum(float(number) * _UNITS[unit] for number, unit in parts))


# -- output ------------------------------------------------------------------------------------


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 instance``, ``2 instances``; ``nouns`` for an irregular plural (``activities``)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def show(renderable: RenderableType) -> None:
    """Print a table on stdout. Off a terminal (pipes, files) it never wraps, so a row stays
    one line, and has no colour and no padding at line ends, so it reads well in a file."""
    from rich.console import Console

    console = Console(highlight=False)
    if console.is_terminal:
        console.print(renderable)
        return
    buffer = Console(file=io.StringIO(), width=100_000, highlight=False, color_system=None)
    with buffer.capture() as captured:
        buffer.print(renderable)
    lines = [line.rstrip() for line in captured.get().splitlines()]
    typer.echo("\n".join(lines).strip("\n"))


def err_console() -> Console:
    """A console on stderr (progress bars, notes), so stdout stays clean for data."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def print_json(value: Any) -> None:
    """Print a JSON document on stdout (indented, non-ASCII kept as is)."""
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def progress(*, total_known: bool, show: bool = True) -> Progress:
    """A progress bar on stderr, shown only on a terminal (logs and pipes get no bar).

    With ``total_known`` it counts ``done/total``; otherwise it counts up with a spinner.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = err_console()
    count = MofNCompleteColumn() if total_known else TextColumn("{task.completed}")
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn() if total_known else TextColumn(""),
        count,
        TimeElapsedColumn(),
        console=console,
        disable=not (show and console.is_terminal),
        redirect_stdout=False,
        redirect_stderr=False,
        transient=True,  # the summary line that follows says how it went
    )
