"""``durable export`` and ``durable import``: whole instances as JSON lines, round-tripped exactly.

One line per instance, ``durable.stores.dumps.to_json`` of its dump: row, history, inbox and
unfinished activities, payloads in their stored form. An import checks every line of the file
before it writes anything, so a malformed file leaves the store as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from .common import (
    JsonOption,
    StoreOption,
    fail,
    plural,
    print_json,
    progress,
    reported,
    store_url,
    with_client,
)

if TYPE_CHECKING:  # loaded when a command runs, not for --help
    from .._client import Client
    from ..stores.dumps import InstanceDump

#: instances read per export_instances call
EXPORT_PAGE = 500
#: instances written per import_instances call (one transaction each)
IMPORT_BATCH = 100
#: a longer line is refused before it is parsed (a crafted file must not exhaust memory)
MAX_LINE_BYTES = 256 * 1024 * 1024
#: skipped ids listed by name in the summary (the rest are counted)
_SKIPPED_SHOWN = 5


def dump_line(dump: InstanceDump) -> bytes:
    """The JSON line of one instance (UTF-8, newline-terminated)."""
    from ..stores.dumps import to_json

    text = json.dumps(to_json(dump), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (text + "\n").encode("utf-8")


def export(
    store: StoreOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="FILE", help="Write here instead of stdout."),
    ] = None,
) -> None:
    """Write every instance as JSON lines (one instance a line), to stdout or --out FILE."""

    async def run(client: Client) -> int:
        with (
            _output(out) as sink,
            progress(total_known=False, show=out is not None or not sys.stdout.isatty()) as bar,
        ):
            task = bar.add_task("exporting", total=None)
            count, after = 0, None
            while True:
                page = await client.store.export_instances(after=after, limit=EXPORT_PAGE)
                for dump in page:
                    sink.write(dump_line(dump))
                    for problem in dump.unreadable:
                        damaged.append(f"instance {dump.instance_id!r}: {problem}")
                count += len(page)
                bar.update(task, completed=count)
                if len(page) < EXPORT_PAGE:
                    return count
                after = page[-1].instance_id

    damaged: list[str] = []
    count = with_client(store, run)
    where = f" to {out}" if out is not None else ""
    typer.echo(f"exported {plural(count, 'instance')}{where}", err=True)
    if damaged:  # every other row is exported; these could not be read, so they are not
        for line in damaged:
            typer.echo(f"not exported, unreadable: {line}", err=True)
        raise typer.Exit(1)


@contextmanager
def _output(out: Path | None) -> Iterator[IO[bytes]]:
    """stdout, or a file written beside ``out`` and renamed into place only once complete."""
    if out is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    partial = out.with_name(out.name + ".partial")
    try:
        sink = partial.open("wb")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    try:
        with sink:
            yield sink
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


# -- import ------------------------------------------------------------------------------------


def import_(
    file: Annotated[
        str, typer.Argument(metavar="FILE", help="JSON lines from export; - is stdin.")
    ],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import instances from a file written by export (ids already in the store are skipped)."""
    with reported(), _readable(file) as (source, name):
        store_url(store)  # before reading a long file: is there a store at all?
        total = sum(1 for _ in _dumps(source, name))  # the whole file is checked first

        async def run(client: Client) -> tuple[int, list[str]]:
            source.seek(0)
            imported, skipped = 0, []
            with progress(total_known=True) as bar:
                task = bar.add_task("importing", total=total)
                for batch in _batches(_dumps(source, name)):
                    skipped += await client.store.import_instances(batch)
                    imported += len(batch)
                    bar.update(task, completed=imported)
            return imported - len(skipped), skipped

        written, skipped = with_client(store, run)
    if as_json:
        print_json({"imported": written, "skipped": skipped})
        return
    typer.echo(f"imported {plural(written, 'instance')} from {name}")
    if skipped:
        shown = ", ".join(repr(i) for i in skipped[:_SKIPPED_SHOWN])
        more = f" and {len(skipped) - _SKIPPED_SHOWN} more" if len(skipped) > _SKIPPED_SHOWN else ""
        typer.echo(f"skipped {len(skipped)} already in the store: {shown}{more}")


@contextmanager
def _readable(file: str) -> Iterator[tuple[IO[bytes], str]]:
    """The file opened for reading twice; stdin (``-``) is spooled to a temporary file first."""
    if file != "-":
        try:
            handle = open(file, "rb")  # noqa: SIM115 (closed below, after both passes)
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}")
        with handle:
            yield handle, file
        return
    with tempfile.TemporaryFile() as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool)
        spool.seek(0)
        yield spool, "<stdin>"


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _dumps(source: IO[bytes], name: str) -> Iterator[InstanceDump]:
    """The dumps of a JSON-lines file; a bad line is a one-line error naming the file and line."""
    lineno = 0
    while line := source.readline(MAX_LINE_BYTES + 1):
        lineno += 1
        if len(line) > MAX_LINE_BYTES:
            fail(f"{name}:{lineno}: line longer than {MAX_LINE_BYTES // 2**20} MiB, refused")
        if line.strip():
            yield _parse(line, f"{name}:{lineno}")


def _parse(line: bytes, where: str) -> InstanceDump:
    from ..stores.dumps import BadDump, from_json

    try:
        data: Any = json.loads(line.decode("utf-8"), parse_constant=_no_constant)
        return from_json(data)
    except UnicodeDecodeError as exc:
        fail(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})")
    except json.JSONDecodeError as exc:
        fail(f"{where}: malformed JSON: {exc.msg} at column {exc.colno}")
    except RecursionError:
        fail(f"{where}: nested too deeply, refused")
    except (BadDump, ValueError) as exc:
        fail(f"{where}: {exc}")


def _batches(dumps: Iterator[InstanceDump]) -> Iterator[list[InstanceDump]]:
    batch: list[InstanceDump] = []
    for dump in dumps:
        batch.append(dump)
        if len(batch) == IMPORT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
