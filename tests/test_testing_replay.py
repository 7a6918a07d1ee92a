"""Replay before a deploy: ``durable.testing.replay`` and ``durable replay``.

Histories are recorded under version 1 of samples/versioning.py (in a testing ``Environment``,
and in a SQLite store by a worker), then replayed against the patched version 2 (they replay)
and the unsafe one (every instance fails, and each is listed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import durable
from durable._cli.dump import dump_line
from durable.testing import Environment, replay
from tests.golden.versions import v1, v2, v2_unsafe
from tests.test_cli import assert_one_line_error, cli

V1, V2, UNSAFE = (
    "tests.golden.versions:v1",
    "tests.golden.versions:v2",
    "tests.golden.versions:v2_unsafe",
)


async def _record(env: Environment, *ids: str) -> None:
    for instance_id in ids:
        await env.client.start("checkout", instance_id, instance_id=instance_id)
    await env.settle()  # each charged, waiting for "shipped"


@pytest.fixture
async def export_file(tmp_path: Path) -> Path:
    """Two v1 instances and one finished one, as `durable export` writes them."""
    path = tmp_path / "histories.jsonl"
    async with Environment(v1) as env:
        await _record(env, "order-a", "order-b")
        done = await env.client.start("checkout", "order-c", instance_id="order-c")
        await done.raise_event("shipped")
        await done.result(timeout=10)
        dumps = await env.store.export_instances()
    path.write_bytes(b"".join(dump_line(dump) for dump in dumps))
    return path


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    """A SQLite store with two v1 instances recorded by a worker."""
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    async with durable.Client(url, app=v1) as client, durable.Worker(v1, url, poll_interval=0.05):
        for instance_id in ("order-a", "order-b"):
            handle = await client.start("checkout", instance_id, instance_id=instance_id)
            while (await handle.status()).custom_status != "charged":
                await client.store.wait_for_instance(instance_id, 0.05)
    return url


async def test_histories_of_handles_replay_or_fail() -> None:
    async with Environment(v1) as env:
        await _record(env, "order-a")
        history = await env.client.get("order-a").history()
    assert (await replay(v1, history)).ok
    assert (await replay(v2, {"order-a": history})).ok
    report = await replay(v2_unsafe, [history, history])
    assert not report.ok and report.replayed == 2
    failure = report.failures[0]
    assert isinstance(failure.error, durable.NonDeterminismError)
    assert failure.error.task_id == 0 and "check_fraud" in failure.error.produced
    assert "2 of 2 histories fail to replay" in str(report)


async def test_an_export_file_and_a_store_url_replay(export_file: Path, sqlite_url: str) -> None:
    assert (await replay(v2, export_file)).ok
    report = await replay(v2_unsafe, str(export_file), ids=["order-a"])
    assert [f.instance_id for f in report.failures] == ["order-a"]
    report = await replay(v2_unsafe, sqlite_url)
    assert sorted(f.instance_id for f in report.failures) == ["order-a", "order-b"]
    assert (await replay(v2, sqlite_url, name="checkout")).ok
    assert (await replay(v2, sqlite_url, name="other")).replayed == 0


async def test_an_orchestrator_the_app_dropped_is_a_failure(export_file: Path) -> None:
    report = await replay(durable.App(), export_file)
    assert report.replayed == 3 and len(report.failures) == 3
    assert isinstance(report.failures[0].error, durable.ConfigurationError)


async def test_bad_inputs_are_named() -> None:
    with pytest.raises(durable.ConfigurationError, match="cannot read"):
        await replay(v2, "no-such-file.jsonl")
    with pytest.raises(durable.ConfigurationError, match="not a list of history events"):
        await replay(v2, [[1, 2]])
    with pytest.raises(durable.InstanceNotFound):
        await replay(v2, [], ids=["order-z"])


def test_cli_replay_of_a_file(export_file: Path) -> None:
    ok = cli("replay", V2, str(export_file))
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.strip() == "ok: 3 histories replayed, no failures"
    bad = cli("replay", UNSAFE, str(export_file))
    assert bad.exit_code == 1
    lines = bad.stdout.strip().splitlines()
    assert [line.split()[1] for line in lines] == ["order-a", "order-b", "order-c"]
    assert all(line.startswith("FAIL ") and "check_fraud" in line for line in lines)
    assert "3 instances of 3 would fail to replay" in bad.stderr


def test_cli_replay_of_a_store(sqlite_url: str) -> None:
    bad = cli("replay", UNSAFE, "--store", sqlite_url, "--id", "order-b")
    assert bad.exit_code == 1 and bad.stdout.startswith("FAIL order-b (checkout): ")
    ok = cli("replay", V2, "--store", sqlite_url, "--name", "checkout")
    assert ok.exit_code == 0 and "2 histories replayed" in ok.stdout


def test_cli_replay_is_listed_with_its_help() -> None:
    assert "replay" in cli("--help").stdout
    shown = cli("replay", "--help")
    assert shown.exit_code == 0 and "Usage: durable replay" in shown.stdout


def test_cli_replay_errors_are_one_line(export_file: Path, tmp_path: Path) -> None:
    assert_one_line_error(cli("replay", V2), "--store URL or FILE")
    with_both = cli("replay", V2, str(export_file), env={"DURABLE_STORE": "sqlite:///x.db"})
    assert with_both.exit_code == 0 and "3 histories" in with_both.stdout  # the FILE wins
    assert_one_line_error(cli("replay", V2, "--store", "memory://"), "in-memory")
    assert_one_line_error(cli("replay", "tests.golden.versions:nope", str(export_file)), "nope")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"format": "other"}) + "\n")
    assert_one_line_error(cli("replay", V2, str(broken)), "format")
