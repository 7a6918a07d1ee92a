"""``durable entity get|signal|list`` (DESIGN 2a), in-process, against a worker serving them."""

from __future__ import annotations

import json
from pathlib import Path

import anyio

import durable
from durable import EntityId

from .test_cli import acli, assert_one_line_error, cli
from .test_store_conformance_entities import app


async def test_signal_then_get_and_list(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'entities.db'}"
    signalled = await acli(
        "entity", "signal", "Counter", "k-1", "add", "--arg", "5", "--store", url
    )
    assert signalled.exit_code == 0, signalled.output
    assert signalled.stdout.strip() == "signalled 'add' to entity Counter/k-1"
    async with durable.Client(url, app=app) as client, durable.Worker(app, url, poll_interval=0.05):
        with anyio.fail_after(30):
            while await client.get_entity(EntityId("Counter", "k-1")) != 5:
                await anyio.sleep(0.02)
    got = await acli("entity", "get", "Counter", "k-1", "--store", url)
    assert got.exit_code == 0 and json.loads(got.stdout) == 5
    untouched = await acli("entity", "get", "Counter", "nobody", "--store", url)
    assert json.loads(untouched.stdout) is None
    listed = await acli("entity", "list", "--json", "--store", url)
    assert [(row["name"], row["key"]) for row in json.loads(listed.stdout)] == [("Counter", "k-1")]
    table = await acli("entity", "list", "--name", "Counter", "--store", url)
    assert "k-1" in table.stdout


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    assert_one_line_error(cli("entity", "get", "a@b", "k", "--store", url), "no '@'")
    assert_one_line_error(
        cli("entity", "signal", "Counter", "k", "add", "--arg", "{x", "--store", url), "--arg"
    )
