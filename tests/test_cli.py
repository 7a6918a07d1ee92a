"""The ``durable`` command line, through its real entry point, on SQLite and PostgreSQL.

Read and write commands run in-process through typer's ``CliRunner`` (fast); ``durable worker``
runs as a subprocess (``python -m durable worker ...``) that is signalled by recorded PID only.
Instances are populated by an in-process ``durable.Worker`` running ``tests/cli_app.py``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from typer.testing import CliRunner, Result

import durable
from durable import Status
from durable._cli.app import app as cli_app
from durable._cli.common import plural
from durable._cli.log_setup import JsonFormatter, TextFormatter

from . import cli_app as sample
from .conftest import fresh_url

ROOT = Path(__file__).resolve().parent.parent
APP = "tests.cli_app:app"
WAIT = 30.0  # seconds: generous; every wait ends as soon as its condition holds
COMMANDS = [
    "worker",
    "start",
    "status",
    "list",
    "history",
    "raise-event",
    "terminate",
    "cancel",
    "suspend",
    "resume",
    "purge",
    "export",
    "import",
    "replay",
    "rewind",
    "complete",
    "fail",
    "workers",
    "schedule",
    "dashboard",
    "entity",
]
#: environment variables of the CLI that the tests set explicitly when they want them
CLEAN_ENV: dict[str, str | None] = {"DURABLE_STORE": None, "DURABLE_DEBUG": None}


def cli(*args: str, input: str | None = None, env: dict[str, str | None] | None = None) -> Result:
    """Run ``durable ARGS...`` in-process."""
    return CliRunner().invoke(
        cli_app, list(args), input=input, env={**CLEAN_ENV, **(env or {})}, catch_exceptions=False
    )


async def acli(*args: str, input: str | None = None) -> Result:
    """``cli`` from an async test: in a thread, since the command runs its own event loop."""
    return await anyio.to_thread.run_sync(partial(cli, *args, input=input))


def assert_one_line_error(result: Result, *fragments: str) -> str:
    """Exit status 1, one ``durable: error:`` line on stderr naming ``fragments``, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and lines[0].startswith("durable: error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture
def other_url(store_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A second fresh store of the same backend as ``store_url``."""
    if store_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'other.db'}"
    return fresh_url("postgres", tmp_path, request)


@asynccontextmanager
async def client_and_worker(url: str) -> AsyncIterator[durable.Client]:
    """A Client and an in-process Worker of the sample app on ``url``."""
    async with (
        durable.Client(url, app=sample.app) as client,
        durable.Worker(sample.app, url, poll_interval=0.05, lease_seconds=2.0),
    ):
        yield client


async def wait_status(client: durable.Client, instance_id: str, wanted: Status) -> None:
    with anyio.fail_after(WAIT):
        while (await client.get(instance_id).status()).status is not wanted:
            await anyio.sleep(0.02)


# -- usage, help and errors without a store ----------------------------------------------------


def test_help_lists_every_command_and_each_has_help() -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.stdout
        sub = cli(command, "--help")
        assert sub.exit_code == 0 and "Usage: durable " + command in sub.stdout


#: what the command line must not load before a command runs (DESIGN 7: it answers at once)
HEAVY = ("asyncpg", "aiosqlite", "anyio", "durable._worker", "durable._core", "durable.stores")
LOADED_BY_HELP = """
import sys
from durable._cli.app import main
sys.argv = ["durable", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(" ".join(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [[], ["--help"], ["--version"]], ids=repr)
def test_the_command_line_loads_no_driver_client_or_worker_to_answer(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", LOADED_BY_HELP, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DURABLE_STORE": "sqlite:///unused.db"},
    )
    loaded = result.stderr.split()
    assert "durable._cli.app" in loaded
    assert [m for m in loaded if m.partition(".")[0] in HEAVY or m.startswith(HEAVY)] == []
    assert "durable._client" not in loaded


@pytest.mark.parametrize(
    "args",
    [["nosuch"], ["list", "--bogus"], ["list", "--status", "bogus"], ["status"], ["purge"]],
    ids=" ".join,
)
def test_usage_errors_print_usage_and_exit_2(args: list[str]) -> None:
    result = cli(*args, env={"DURABLE_STORE": "sqlite:///unused.db"})
    assert result.exit_code == 2
    assert "Usage: durable" in result.stderr


def test_version() -> None:
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.startswith("durable ")


def test_missing_store_is_one_line() -> None:
    assert_one_line_error(cli("list"), "--store", "DURABLE_STORE")


def test_bad_store_url_is_one_line() -> None:
    assert_one_line_error(cli("list", "--store", "nosuch://x"), "nosuch://x")


@pytest.mark.parametrize(
    "command",
    [["worker", APP], ["list"], ["status", "x"], ["start", "add_one"], ["import", "-"]],
    ids=lambda command: command[0],
)
@pytest.mark.parametrize("url", ["memory://", "memory://shop", "MEMORY://"])
def test_a_memory_store_is_refused_in_one_line(command: list[str], url: str) -> None:
    line = assert_one_line_error(cli(*command, "--store", url), url, "in-memory", "sqlite:///")
    assert line.startswith(f"durable: error: --store {url}: ")
    from_env = cli(*command, env={"DURABLE_STORE": url})
    assert_one_line_error(from_env, url, "in-memory")


def test_counts_read_as_english() -> None:
    assert [plural(n, "instance") for n in (0, 1, 2)] == [
        "0 instances",
        "1 instance",
        "2 instances",
    ]
    assert plural(1, "activity", "activities") == "1 activity"
    assert plural(3, "activity", "activities") == "3 activities"


def test_unreachable_postgres_is_one_line_without_the_password() -> None:
    url = "postgresql://durable:secret@127.0.0.1:1/db?connect_timeout=0.3"
    line = assert_one_line_error(cli("status", "x", "--store", url), "127.0.0.1:1")
    assert "secret" not in line


def test_debug_shows_the_traceback() -> None:
    for result in (
        cli("--debug", "list", "--store", "nosuch://x"),
        cli("list", "--store", "nosuch://x", env={"DURABLE_DEBUG": "1"}),
    ):
        assert result.exit_code == 1
        assert "Traceback" in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("durable: error: ")


def test_worker_reports_a_bad_app_in_one_line(tmp_path: Path) -> None:
    store = ["--store", f"sqlite:///{tmp_path / 'w.db'}"]
    assert_one_line_error(cli("worker", "tests.cli_app", *store), "MODULE:APP")
    assert_one_line_error(cli("worker", "nosuch_module:app", *store), "nosuch_module")
    assert_one_line_error(cli("worker", "tests.cli_app:nope", *store), "'nope'")
    assert_one_line_error(cli("worker", "tests.cli_app:not_an_app", *store), "not a durable.App")


def test_log_formats_carry_instance_and_activity() -> None:
    record = logging.LogRecord("durable.worker", logging.INFO, __file__, 1, "hi %s", ("x",), None)
    record.instance_id, record.activity = "order 1", "charge"
    text = TextFormatter().format(record)
    assert text.endswith('hi x instance_id="order 1" activity=charge') and "\n" not in text
    data = json.loads(JsonFormatter().format(record))
    assert data["message"] == "hi x" and data["instance_id"] == "order 1"
    assert data["activity"] == "charge" and data["level"] == "INFO"


# -- start, status, list, history ----------------------------------------------------------------


def test_start_prints_the_id_and_status_and_list_read_it(store_url: str) -> None:
    s = ["--store", store_url]
    result = cli("start", "add_one", "--input", "41", "--id", "first", *s)
    assert result.exit_code == 0 and result.stdout == "first\n"
    generated = cli("start", "add_one", *s, env={}).stdout.strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", generated)

    found = json.loads(cli("status", "first", "--json", *s).stdout)
    assert found["instance_id"] == "first" and found["name"] == "add_one"
    assert found["status"] == "PENDING" and found["input"] == 41
    table = cli("status", "first", *s).stdout
    assert re.search(r"^status\s+PENDING$", table, re.M) and re.search(r"^input\s+41$", table, re.M)

    listed = json.loads(cli("list", "--json", *s).stdout)
    assert [item["instance_id"] for item in listed] == [generated, "first"]  # newest first
    assert json.loads(cli("list", "--json", "--limit", "1", *s).stdout)[0]["instance_id"] == (
        generated
    )
    assert "first" in cli("list", *s).stdout
    assert json.loads(cli("list", "--json", "--status", "completed", *s).stdout) == []
    assert json.loads(cli("list", "--json", "--name", "nope", *s).stdout) == []

    env_store = cli("status", "first", "--json", env={"DURABLE_STORE": store_url})
    assert json.loads(env_store.stdout)["instance_id"] == "first"
    assert_one_line_error(cli("start", "add_one", "--id", "first", *s), "'first'", "exists")


def test_an_instance_started_without_input_shows_none(store_url: str) -> None:
    s = ["--store", store_url]
    assert cli("start", "approval", "--id", "bare", *s).exit_code == 0
    assert json.loads(cli("status", "bare", "--json", *s).stdout)["input"] is None
    table = cli("status", "bare", *s).stdout
    assert re.search(r"^status\s+PENDING$", table, re.M)
    assert not re.search(r"^input\b", table, re.M) and "kwargs" not in table
    assert json.loads(cli("list", "--json", *s).stdout)[0]["input"] is None


def test_malformed_json_is_one_line_and_writes_nothing(store_url: str) -> None:
    s = ["--store", store_url]
    assert_one_line_error(cli("start", "add_one", "--input", "{bad", *s), "--input", "JSON")
    assert_one_line_error(cli("start", "add_one", "--input", "NaN", *s), "--input")
    assert json.loads(cli("list", "--json", *s).stdout) == []
    cli("start", "approval", "--id", "a", *s)
    assert_one_line_error(cli("raise-event", "a", "go", "--payload", "[1,", *s), "--payload")


@pytest.mark.parametrize(
    "command",
    [
        ["status", "nope"],
        ["history", "nope"],
        ["raise-event", "nope", "approved"],
        ["terminate", "nope"],
        ["cancel", "nope"],
        ["suspend", "nope"],
        ["resume", "nope"],
        ["purge", "nope", "--yes"],
    ],
    ids=lambda command: command[0],
)
def test_unknown_instance_is_one_line(store_url: str, command: list[str]) -> None:
    assert_one_line_error(cli(*command, "--store", store_url), "instance 'nope' not found")


async def test_start_wait_prints_the_result_or_the_error(store_url: str) -> None:
    s = ["--store", store_url]
    async with client_and_worker(store_url):
        done = await acli("start", "add_one", "--input", "1", "--id", "w1", "--wait", *s)
        assert done.exit_code == 0 and done.stdout == "w1\n2\n"
        as_json = await acli("start", "add_one", "--input", "5", "--wait", "--json", *s)
        assert json.loads(as_json.stdout)["output"] == 6
        assert json.loads(as_json.stdout)["status"] == "COMPLETED"
        failed = await acli("start", "fails", "--input", '"kaboom"', "--id", "f1", "--wait", *s)
        assert failed.stdout == "f1\n"
        assert_one_line_error(failed, "'f1' failed", "ValueError: kaboom")
        late = await acli("start", "nap", "--input", "60", "--wait", "--timeout", "0.1", *s)
        assert_one_line_error(late, "did not finish within 0.1 s")


async def test_history_is_a_timeline(store_url: str) -> None:
    s = ["--store", store_url]
    async with client_and_worker(store_url) as client:
        await (await client.start(sample.add_one, 1, instance_id="h1")).result(timeout=WAIT)
        await (await client.start(sample.fails, "bad", instance_id="h2")).status()
        await wait_status(client, "h2", Status.FAILED)
    events = json.loads((await acli("history", "h1", "--json", *s)).stdout)
    assert [event["kind"] for event in events] == [
        "ExecutionStarted",
        "ActivityScheduled",
        "ActivityCompleted",
        "ExecutionCompleted",
    ]
    assert [event["seq"] for event in events] == [0, 1, 2, 3]
    lines = (await acli("history", "h1", *s)).stdout.splitlines()
    assert lines[0].split() == ["SEQ", "KIND", "NAME", "TIME", "(UTC)", "DURATION", "ERROR"]
    completed = next(line for line in lines if "ActivityCompleted" in line)
    assert "increment" in completed and re.search(r"\d+(\.\d+)? (ms|s)\b", completed)
    failed = (await acli("history", "h2", *s)).stdout
    assert "ValueError: bad" in failed and "ExecutionFailed" in failed


# -- control -----------------------------------------------------------------------------------


async def test_raise_event_suspend_resume_terminate_cancel(store_url: str) -> None:
    s = ["--store", store_url]
    async with client_and_worker(store_url) as client:
        assert (await acli("start", "approval", "--id", "ap", *s)).exit_code == 0
        await wait_status(client, "ap", Status.RUNNING)
        raised = await acli("raise-event", "ap", "approved", "--payload", '{"by": "ann"}', *s)
        assert raised.exit_code == 0
        assert await client.get("ap").result(timeout=WAIT) == {"approved": {"by": "ann"}}

        await acli("start", "nap", "--input", "3600", "--id", "n1", *s)
        await wait_status(client, "n1", Status.RUNNING)
        assert (await acli("suspend", "n1", "--reason", "audit", *s)).exit_code == 0
        await wait_status(client, "n1", Status.SUSPENDED)
        assert (await acli("resume", "n1", *s)).exit_code == 0
        await wait_status(client, "n1", Status.RUNNING)
        assert (await acli("terminate", "n1", "--reason", "not needed", *s)).exit_code == 0
        await wait_status(client, "n1", Status.TERMINATED)

        await acli("start", "nap", "--input", "3600", "--id", "n2", *s)
        await wait_status(client, "n2", Status.RUNNING)
        assert (await acli("cancel", "n2", *s)).exit_code == 0
        await wait_status(client, "n2", Status.CANCELED)
    timeline = (await acli("history", "n1", *s)).stdout
    for kind in ("TimerCreated", "ExecutionSuspended", "ExecutionResumed", "ExecutionTerminated"):
        assert kind in timeline
    assert "not needed" in timeline
    finished = await acli("suspend", "n1", *s)
    assert_one_line_error(finished, "'n1'", "TERMINATED")


# -- purge -------------------------------------------------------------------------------------


async def finished_instances(url: str) -> None:
    """c1, c2 COMPLETED; f1 FAILED; r1 RUNNING (waiting for an event)."""
    async with client_and_worker(url) as client:
        for name in ("c1", "c2"):
            await (await client.start(sample.add_one, 1, instance_id=name)).result(timeout=WAIT)
        await client.start(sample.fails, "x", instance_id="f1")
        await client.start(sample.approval, instance_id="r1")
        await wait_status(client, "f1", Status.FAILED)
        await wait_status(client, "r1", Status.RUNNING)


async def ids_in(url: str) -> list[str]:
    async with durable.Client(url) as client:
        return sorted(item.instance_id for item in await client.list())


async def test_purge_one_instance_asks_first(store_url: str) -> None:
    s = ["--store", store_url]
    await finished_instances(store_url)
    declined = await acli("purge", "c1", *s, input="n\n")
    assert declined.exit_code == 1 and "Purge instance 'c1'" in declined.stdout
    assert "c1" in await ids_in(store_url)
    accepted = await acli("purge", "c1", *s, input="y\n")
    assert accepted.exit_code == 0 and "purged instance 'c1'" in accepted.stdout
    assert (await acli("purge", "c2", "--yes", *s)).exit_code == 0
    assert await ids_in(store_url) == ["f1", "r1"]
    assert_one_line_error(await acli("purge", "r1", "--yes", *s), "'r1' is RUNNING")


async def test_purge_takes_the_sub_orchestrations_and_says_so(store_url: str) -> None:
    s = ["--store", store_url]
    async with client_and_worker(store_url) as client:
        await (await client.start(sample.family, 1, instance_id="fam")).result(timeout=WAIT)
        assert await ids_in(store_url) == ["fam", "fam:0"]
        purged = await acli("purge", "fam", "--yes", *s)
        assert purged.stdout == "purged instance 'fam' and 1 sub-orchestration\n"
        assert await ids_in(store_url) == []
        again = await client.start(sample.family, 2, instance_id="fam")  # the ids start clean
        assert await again.result(timeout=WAIT) == 3


async def test_purge_leaves_a_parent_whose_child_still_runs(store_url: str) -> None:
    s = ["--store", store_url]
    async with client_and_worker(store_url) as client:
        await (await client.start(sample.hands_off, instance_id="ho")).result(timeout=WAIT)
        await wait_status(client, "ho-child", Status.RUNNING)
        await (await client.start(sample.add_one, 1, instance_id="done")).result(timeout=WAIT)
        refused = await acli("purge", "ho", "--yes", *s)
        assert_one_line_error(refused, "'ho-child'", "still RUNNING", "terminate it first")
        bulk = await acli("purge", "--older-than", "0s", "--yes", *s)
        assert bulk.exit_code == 0 and bulk.stdout == "purged 1 instance\n"  # "done" only
        assert await ids_in(store_url) == ["ho", "ho-child"]
        await client.get("ho-child").terminate()
        await wait_status(client, "ho-child", Status.TERMINATED)
    purged = await acli("purge", "ho", "--yes", *s)
    assert purged.stdout == "purged instance 'ho' and 1 sub-orchestration\n"


async def test_purge_by_status_and_age(store_url: str) -> None:
    s = ["--store", store_url]
    await finished_instances(store_url)
    recent = await acli("purge", "--status", "COMPLETED", "--older-than", "1h", "--yes", *s)
    assert recent.exit_code == 0 and "purged 0 instances" in recent.stdout
    declined = await acli("purge", "--older-than", "0s", *s, input="n\n")
    assert declined.exit_code == 1 and len(await ids_in(store_url)) == 4
    done = await acli("purge", "--status", "completed", "--older-than", "0s", "--yes", *s)
    assert "purged 2 instances" in done.stdout
    assert await ids_in(store_url) == ["f1", "r1"]
    everything = await acli("purge", "--older-than", "0s", "--yes", *s)
    assert "purged 1 instance" in everything.stdout
    assert await ids_in(store_url) == ["r1"]
    assert_one_line_error(await acli("purge", "--status", "RUNNING", "--yes", *s), "RUNNING")
    assert_one_line_error(await acli("purge", "--older-than", "7x", "--yes", *s), "--older-than")
    both = await acli("purge", "r1", "--status", "FAILED", *s)
    assert both.exit_code == 2


# -- export and import -------------------------------------------------------------------------


async def assorted_instances(url: str) -> list[str]:
    """Instances in every shape a dump must carry; returns their ids."""
    async with client_and_worker(url) as client:
        await (await client.start(sample.add_one, 1, instance_id="done")).result(timeout=WAIT)
        await client.start(sample.fails, "no", instance_id="failed")
        await client.start(sample.approval, "sign-off", instance_id="waiting")
        await client.start(sample.nap, 3600.0, instance_id="timer")
        await client.start(sample.elsewhere, 1, instance_id="queued")
        async with durable.Client(url) as by_name:  # no app: any name is accepted
            await by_name.start("unregistered", instance_id="pending")
        await client.get("waiting").raise_event("unrelated", {"x": "é ✓"})
        for instance_id in ("waiting", "timer", "queued"):
            await wait_status(client, instance_id, Status.RUNNING)
        await wait_status(client, "failed", Status.FAILED)
    return ["done", "failed", "pending", "queued", "timer", "waiting"]


async def snapshot(url: str, ids: list[str]) -> dict[str, Any]:
    async with durable.Client(url) as client:
        return {
            instance_id: (
                await client.store.get_instance(instance_id),
                await client.store.get_history(instance_id),
            )
            for instance_id in ids
        }


async def test_export_then_import_is_exact(store_url: str, other_url: str, tmp_path: Path) -> None:
    ids = await assorted_instances(store_url)
    dump = tmp_path / "dump.jsonl"
    exported = await acli("export", "--out", str(dump), "--store", store_url)
    assert exported.exit_code == 0 and "exported 6 instances" in exported.stderr
    lines = dump.read_text("utf-8").splitlines()
    assert [json.loads(line)["instance_id"] for line in lines] == ids
    to_stdout = await acli("export", "--store", store_url)
    assert to_stdout.stdout.splitlines() == lines

    imported = await acli("import", str(dump), "--store", other_url)
    assert imported.exit_code == 0 and "imported 6 instances" in imported.stdout
    assert await snapshot(other_url, ids) == await snapshot(store_url, ids)
    again = await acli("export", "--store", other_url)
    assert again.stdout.splitlines() == lines  # inbox, activities and timers too

    twice = await acli("import", "-", "--json", "--store", other_url, input=dump.read_text())
    assert json.loads(twice.stdout) == {"imported": 0, "skipped": ids}

    async with client_and_worker(other_url) as client:  # the copy is alive: it runs on
        await client.get("waiting").raise_event("approved", "yes")
        assert await client.get("waiting").result(timeout=WAIT) == {"approved": "yes"}


async def test_import_names_the_bad_line_and_writes_nothing(
    store_url: str, other_url: str, tmp_path: Path
) -> None:
    async with client_and_worker(store_url) as client:
        await (await client.start(sample.add_one, 1, instance_id="ok")).result(timeout=WAIT)
    good = (await acli("export", "--store", store_url)).stdout
    malformed = tmp_path / "malformed.jsonl"
    malformed.write_text(good + "\n{bad\n", "utf-8")
    result = await acli("import", str(malformed), "--store", other_url)
    assert_one_line_error(result, f"{malformed}:3", "malformed JSON")
    not_a_dump = tmp_path / "not_a_dump.jsonl"
    not_a_dump.write_text(good + json.dumps({**json.loads(good), "status": "NAPPING"}) + "\n")
    result = await acli("import", str(not_a_dump), "--store", other_url)
    assert_one_line_error(result, f"{not_a_dump}:2", "'status'", "NAPPING")
    assert (await acli("export", "--store", other_url)).stdout == ""
    assert_one_line_error(await acli("import", str(tmp_path / "absent"), "--store", other_url))


# -- the worker process ------------------------------------------------------------------------


class Processes:
    """Subprocesses of one test, each signalled by its recorded PID and reaped at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[subprocess.Popen[bytes]] = []

    def worker(self, url: str, *options: str) -> subprocess.Popen[bytes]:
        log = (self.directory / f"worker{len(self.started)}.log").open("wb")
        env = {key: value for key, value in os.environ.items() if key != "DURABLE_DEBUG"}
        with log:
            process = subprocess.Popen(
                [sys.executable, "-m", "durable", "worker", APP, *options],
                cwd=ROOT,
                env={**env, "DURABLE_STORE": url},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    def log(self, process: subprocess.Popen[bytes]) -> str:
        index = self.started.index(process)
        return (self.directory / f"worker{index}.log").read_text("utf-8")

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                for child in children_of(process.pid):
                    os.kill(child, signal.SIGKILL)
                os.kill(process.pid, signal.SIGKILL)
            process.wait()


def children_of(pid: int) -> list[int]:
    """Live child processes of ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it exited while we looked
            continue
        state, parent = stat.rpartition(")")[2].split()[:2]
        if int(parent) == pid and state != "Z":
            found.append(int(entry.name))
    return sorted(found)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


async def until(condition: Callable[[], Any], what: str) -> Any:
    """Poll ``condition`` until it gives something truthy (failing after WAIT seconds)."""
    with anyio.move_on_after(WAIT):
        while not (value := condition()):
            await anyio.sleep(0.02)
        return value
    raise AssertionError(f"timed out waiting for {what}")


async def exit_code(process: subprocess.Popen[bytes]) -> int:
    await until(lambda: process.poll() is not None, f"process {process.pid} to exit")
    return process.returncode


def markers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob("started.*"))


@pytest.mark.parametrize("how", ["finish", "release", "force"])
async def test_sigterm_mid_activity_finishes_or_releases_it(
    store_url: str, processes: Processes, tmp_path: Path, how: str
) -> None:
    # finish: the activity ends within the grace period, exit 0. release: the grace is too
    # short, the attempt goes back to the store at once (a new worker need not wait out the 60 s
    # lease), exit 0. force: a second SIGTERM releases it without waiting, exit 1.
    short = ["--shutdown-grace", "0.2"] if how == "release" else []
    worker = processes.worker(
        store_url, "--lease", "60", "--poll-interval", "0.05", "--log-format", "json", *short
    )
    job = {"dir": str(tmp_path), "value": 20}
    async with durable.Client(store_url, app=sample.app) as client:
        handle = await client.start(sample.blocking, job, instance_id="job")
        await until(lambda: markers(tmp_path), "the activity to start")
        os.kill(worker.pid, signal.SIGTERM)
        if how == "finish":
            (tmp_path / "go").touch()
        if how == "force":
            await until(lambda: "SIGTERM: stopping" in processes.log(worker), "the first stop")
            os.kill(worker.pid, signal.SIGTERM)
        assert await exit_code(worker) == (1 if how == "force" else 0), processes.log(worker)
        records = [json.loads(line) for line in processes.log(worker).splitlines()]
        for record in records:
            assert {"time", "level", "logger", "pid", "message"} <= set(record)
        starting = (
            r"starting tests\.cli_app:app \(\d+ orchestrators, \d+ activities\) on queue default "
        )
        assert re.match(starting, records[0]["message"]), records[0]
        (tmp_path / "go").touch()
        async with durable.Worker(sample.app, store_url, poll_interval=0.05):
            assert await handle.result(timeout=WAIT) == 41
    attempts = sorted(name.rsplit(".", 1)[1] for name in markers(tmp_path))
    assert attempts == (["1"] if how == "finish" else ["1", "2"])


async def test_processes_restart_a_killed_worker(
    store_url: str, processes: Processes, tmp_path: Path
) -> None:
    supervisor = processes.worker(
        store_url, "--processes", "2", "--lease", "1", "--poll-interval", "0.05"
    )

    def workers() -> list[int]:
        found = children_of(supervisor.pid)
        return found if len(found) == 2 else []

    first = await until(workers, "2 worker processes")
    async with durable.Client(store_url, app=sample.app) as client:
        handle = await client.start(sample.blocking, {"dir": str(tmp_path), "value": 1})
        marker = await until(lambda: markers(tmp_path), "the activity to start")
        victim = int(marker[0].split(".")[1])
        assert victim in first
        os.kill(victim, signal.SIGKILL)
        second = await until(lambda: victim not in workers() and workers(), "a new worker")
        (tmp_path / "go").touch()
        assert await handle.result(timeout=WAIT) == 3  # re-run after the lease expired
        more = await client.start(sample.add_one, 10)
        assert await more.result(timeout=WAIT) == 11
    os.kill(supervisor.pid, signal.SIGTERM)
    assert await exit_code(supervisor) == 0, processes.log(supervisor)
    assert not [pid for pid in second if Path(f"/proc/{pid}").exists()]  # stopped and reaped
    log = processes.log(supervisor)
    assert "ended unexpectedly (killed by SIGKILL)" in log
