"""RELIABILITY.md section 5, S1-S4, on SQLite and PostgreSQL (and memory where no SQL is needed).

* S1: payloads written to look like serialized objects (pickle, jsonpickle ``py/object``,
  ``__class__``, ``$type``, an Enum value naming ``subprocess.Popen``) are data: nothing is
  imported or run (a canary file is never created), and a payload that does not fit the
  receiver's hints fails its instance with ``SerializationError``. Statically: no pickle, eval,
  exec, yaml or import-from-data in ``durable/``.
* S2: a forged history (a seq gap, an unknown kind, a completion for a task never scheduled)
  holds its own instance with "corrupt history ... at seq N"; the worker serves the others.
  A duplicate seq cannot be written: (instance_id, seq) is the table's primary key on both.
* S3: ``durable import`` refuses an over-deep line by its depth limit (and an over-long one by
  its size limit, tests/test_cli.py) before anything is written.
* S4: nothing a run logs carries the store's password.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import logging
import pickle
import re
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any

import anyio
import pytest

import durable
from durable import Status
from tests.test_cli import acli
from tests.test_hostile_input import _corrupt, _held, _worker, steps
from tests.test_hostile_input import app as hostile_app

ROOT = Path(__file__).resolve().parent.parent
app = durable.App()


class Level(enum.Enum):
    LOW = "low"
    HIGH = "high"


@dataclasses.dataclass
class Order:
    level: Level
    note: Any = None


@app.orchestrator
def typed(ctx: durable.OrchestrationContext, order: Order) -> Generator[Any, Any, str]:
    yield ctx.sleep(0)
    return order.level.value


@app.orchestrator
def untyped(ctx: durable.OrchestrationContext, value: Any, raw: bytes) -> Generator[Any, Any, Any]:
    yield ctx.sleep(0)
    return [value, len(raw)]


class _Canary:
    """A pickle that would create ``path`` when unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


def _hostile(canary: Path) -> dict[str, Any]:
    touch = ["touch", str(canary)]
    return {
        "jsonpickle": {"py/object": "os.system", "py/reduce": [{"py/function": "os.system"}]},
        "__class__": {"__class__": "subprocess.Popen", "args": touch},
        "$type": {"$type": "System.Diagnostics.Process, System", "StartInfo": touch},
        "enum": {"level": "subprocess.Popen", "note": touch},
        "enum type": {"level": {"py/type": "subprocess.Popen"}},
    }


async def test_s1_payloads_shaped_like_objects_are_data_never_run(
    store_url: str, tmp_path: Path
) -> None:
    canary = Path(f"/tmp/pwned-{uuid.uuid4()}")
    pickled = base64.b64encode(pickle.dumps(_Canary(canary))).decode()
    async with durable.Client(store_url) as bare:  # no App: the payloads go in unchecked
        for name, payload in _hostile(canary).items():
            await bare.start("typed", payload, instance_id=f"s1-{name}")
        for name, payload in _hostile(canary).items():
            await bare.start("untyped", payload, pickled, instance_id=f"s1-any-{name}")
    async with durable.Client(store_url, app=app) as client, _on(store_url):
        for name in _hostile(canary):
            with pytest.raises(durable.OrchestrationFailed) as info:
                await client.get(f"s1-{name}").result(timeout=30)
            assert info.value.error_type == "durable.SerializationError", (name, info.value)
            # where the hint is Any the payload is kept as the plain JSON it is
            kept = await client.get(f"s1-any-{name}").result(timeout=30)
            assert kept == [_hostile(canary)[name], len(pickle.dumps(_Canary(canary)))]
    assert not canary.exists()


def _on(store_url: str) -> durable.Worker:
    return durable.Worker(app, store_url, lease_seconds=5, poll_interval=0.05)


#: what S1's static gate looks for in durable/ (the serializer is JSON only)
FORBIDDEN = re.compile(
    r"^\s*(import pickle|from pickle|import marshal|import shelve|import jsonpickle|import yaml)"
    r"|\b(eval|exec)\(|yaml\.load\(|pickle\.loads?\(|__import__\(|importlib\.import_module\("
)


def test_s1_no_pickle_eval_or_import_from_data_in_durable() -> None:
    found = []
    for path in sorted((ROOT / "durable").rglob("*.py")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if FORBIDDEN.search(line):
                found.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    # the package imports its own submodules by constant names (lazy exports, and the CLI's
    # commands from app.ELSEWHERE), the CLI the user's app from the MODULE:APP the operator
    # typed, and a process pool's process the modules of the worker's registered process
    # activities, given when it starts: never a name read from stored data
    allowed = (
        "durable/__init__.py",
        "durable/_cli/launch.py",
        "durable/_cli/serving.py",
        "durable/_worker/processes.py",
    )
    assert [place for place in found if not place.startswith(allowed)] == [], found


# -- S2: a forged history -------------------------------------------------------------------------

#: (what, SQL on the victim's history: 0 started, 1 timer created, 2 timer fired)
FORGED = {
    "seq gap": "UPDATE history SET seq = seq + 5 WHERE instance_id = ? AND seq = 2",
    "unknown kind": 'UPDATE history SET data = REPLACE(data, \'"kind":"TimerCreated"\', '
    '\'"kind":"Bogus"\') WHERE instance_id = ? AND seq = 1',
    "completion never scheduled": (
        "INSERT INTO history (instance_id, seq, kind, data) SELECT instance_id, 3, "
        '\'ActivityCompleted\', \'{"kind":"ActivityCompleted","seq":3,"timestamp":'
        '"2026-01-01T00:00:00+00:00","task_id":99,"result":"1"}\' '
        "FROM history WHERE instance_id = ? AND seq = 0"
    ),
}


@app.orchestrator
def forged(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    yield ctx.sleep(0)
    value = yield ctx.wait_for_event("go")
    return int(value) + x


@pytest.mark.parametrize("what", sorted(FORGED))
async def test_s2_a_forged_history_holds_its_instance_only(store_url: str, what: str) -> None:
    async with durable.Client(store_url, app=app) as client:
        async with _on(store_url):
            victim = await client.start(forged, 1, instance_id="victim")
            with anyio.fail_after(30):
                while len(await victim.history()) < 3:
                    await anyio.sleep(0.05)
        await _corrupt(store_url, FORGED[what], "victim")
        await victim.raise_event("go", 1)  # a new message: a fresh worker replays the history
        async with _on(store_url):
            assert await (await client.start(steps_app_free, 5)).result(timeout=30) == 5
            status = await _held(client, "victim")
        assert status.status is Status.RUNNING
        assert "corrupt history of instance 'victim' at seq" in (status.error or ""), status.error


async def test_s2_a_duplicate_seq_cannot_be_written(store_url: str) -> None:
    async with durable.Client(store_url, app=app) as client, _on(store_url):
        await (await client.start(steps_app_free, 1, instance_id="one")).result(timeout=30)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await _corrupt(
            store_url,
            "INSERT INTO history (instance_id, seq, kind, data) "
            "SELECT instance_id, seq, kind, data FROM history WHERE instance_id = ? AND seq = 0",
            "one",
        )


@app.orchestrator(name="steps_app_free")
def steps_app_free(ctx: durable.OrchestrationContext, x: int) -> Generator[Any, Any, int]:
    yield ctx.sleep(0)
    return x


# -- S3: crafted import files ---------------------------------------------------------------------


async def test_s3_an_over_deep_import_line_is_refused_before_anything_is_written(
    store_url: str, tmp_path: Path
) -> None:
    line = {"instance_id": "deep", "history": [], "x": "[" * 100_000 + "]" * 100_000}
    crafted = tmp_path / "deep.jsonl"
    crafted.write_text(json.dumps(line)[:-1].replace('"x": "', '"x": ').rstrip('"') + "}\n")
    done = await acli("import", str(crafted), "--store", store_url)
    assert done.exit_code != 0
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr, done.stderr
    assert "deep.jsonl:1" in done.stderr, done.stderr
    async with durable.Client(store_url) as client:
        assert await client.list() == []


# -- S4: no secrets in logs -----------------------------------------------------------------------


async def test_s4_the_store_password_is_never_logged(
    pg_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-pw-" + uuid.uuid4().hex[:6]
    scheme, rest = pg_server.url.split("://", 1)
    user, host = rest.split("@", 1) if "@" in rest else ("postgres", rest)
    good = f"{scheme}://{user.split(':')[0]}:{secret}@{host}"
    url = f"{good}?schema=s4_{uuid.uuid4().hex[:8]}"
    caplog.set_level(logging.DEBUG)
    async with durable.Client(url, app=hostile_app) as client, _worker(url):
        assert await (await client.start(steps, 1)).result(timeout=30) == 2
    bad = f"postgresql://durable:{secret}@127.0.0.1:1/db?connect_timeout=0.3"
    with pytest.raises(durable.StoreError) as info:
        async with durable.Client(bad):
            pass
    worker = await acli("worker", "tests.test_hostile_input:app", "--store", bad)
    texts = [caplog.text, str(info.value), repr(info.value), worker.stdout, worker.stderr]
    assert worker.exit_code != 0
    assert not [t for t in texts if secret in t], texts
