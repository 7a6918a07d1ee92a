"""Rewind of a FAILED instance (docs/rewind.md), end to end on SQLite and PostgreSQL.

The failed child is rewound with its parent, completed activities never run again (the ledger
file counts their runs), the history only grows, and a dry run changes nothing and reports the
``NonDeterminismError`` of code that no longer fits.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import anyio
import pytest

import durable
from durable import _events as ev
from samples.rewind import app, book_courier, charge, checkout, pack, runs


async def _failed(
    client: durable.Client, tmp_path: Path
) -> tuple[durable.InstanceHandle, str, Path]:
    ledger, api_up = str(tmp_path / "ledger.txt"), tmp_path / "api-up"
    handle = await client.start(checkout, "o-1", ledger, str(api_up), instance_id="order")
    with pytest.raises(durable.OrchestrationFailed, match="courier's API is down"):
        await handle.result(timeout=30)
    return handle, ledger, api_up


async def test_rewind_retries_the_failed_child_and_runs_nothing_that_completed(
    store_url: str, tmp_path: Path
) -> None:
    async with durable.Worker(app, store_url), durable.Client(store_url, app=app) as client:
        handle, ledger, api_up = await _failed(client, tmp_path)
        child = client.get("order-ship")
        assert (await child.status()).status is durable.Status.FAILED
        before, child_before = await handle.history(), await child.history()
        api_up.touch()
        await handle.rewind(reason="the courier is back")
        assert await handle.result(timeout=30) == {
            "receipt": "receipt-o-1",
            "booking": "courier booked for parcel-o-1",
        }
        assert (await child.status()).status is durable.Status.COMPLETED
        assert runs(ledger) == ["charge o-1", "pack o-1"]  # neither ran again
        after, child_after = await handle.history(), await child.history()
    # append-only: what was there is still there, the rewind follows it
    assert after[: len(before)] == before and child_after[: len(child_before)] == child_before
    rewound = after[len(before)]
    assert isinstance(rewound, ev.ExecutionRewound) and rewound.reason == "the courier is back"
    assert before[rewound.cut].kind == "SubOrchestrationFailed"
    assert [e.kind for e in child_after[len(child_before) :]] == [
        "ExecutionRewound",
        "ActivityCompleted",  # book_courier, run again
        "ExecutionCompleted",
    ]
    assert [e.seq for e in after] == list(range(len(after)))


async def test_a_rewound_instance_that_fails_again_can_be_rewound_again(
    store_url: str, tmp_path: Path
) -> None:
    async with durable.Worker(app, store_url), durable.Client(store_url, app=app) as client:
        handle, ledger, api_up = await _failed(client, tmp_path)
        await handle.rewind()  # the API is still down: it fails again, the same way
        with pytest.raises(durable.OrchestrationFailed, match="courier's API is down"):
            await handle.result(timeout=30)
        api_up.touch()
        await handle.rewind()
        assert (await handle.result(timeout=30))["receipt"] == "receipt-o-1"
        assert runs(ledger) == ["charge o-1", "pack o-1"]
        kinds = [e.kind for e in await handle.history()]
        assert kinds.count("ExecutionRewound") == 2 and kinds.count("ExecutionFailed") == 2


async def test_only_a_failed_instance_is_rewound(store_url: str, tmp_path: Path) -> None:
    async with durable.Worker(app, store_url), durable.Client(store_url, app=app) as client:
        with pytest.raises(durable.InstanceNotFound):
            await client.get("nobody").rewind()
        api_up = tmp_path / "api-up"
        api_up.touch()
        handle = await client.start(checkout, "o-2", str(tmp_path / "l.txt"), str(api_up))
        await handle.result(timeout=30)
        with pytest.raises(durable.DurableError, match="COMPLETED: only a FAILED instance"):
            await handle.rewind()


# a new version of the code that no longer fits the recorded history before the failure
changed = durable.App()
changed.activity(charge.fn)
changed.activity(pack.fn)
changed.activity(book_courier.fn)


@changed.activity
def check_fraud(order_id: str) -> bool:
    return True


@changed.orchestrator(name="checkout")
def checkout_v2(
    ctx: durable.OrchestrationContext, order_id: str, ledger: str, api_up: str
) -> Generator[durable.Task[Any], Any, str]:
    yield ctx.call_activity(check_fraud, order_id)  # new, before the charge: the history differs
    return "never"


async def test_a_dry_run_shows_the_rewind_and_changes_nothing(
    store_url: str, tmp_path: Path
) -> None:
    async with durable.Worker(app, store_url), durable.Client(store_url, app=app) as client:
        handle, _, _ = await _failed(client, tmp_path)
        history = await handle.history()
        preview = await handle.preview_rewind()
        assert preview.children == ["order-ship"]
        assert any("set aside history events" in step for step in preview.steps)
        assert any("'book_courier' again" in step for step in preview.steps)  # the child's
        async with durable.Client(store_url, app=changed) as other:
            with pytest.raises(durable.NonDeterminismError, match="check_fraud"):
                await other.get("order").preview_rewind()
        assert await handle.history() == history
        assert (await handle.status()).status is durable.Status.FAILED
        assert (await client.get("order-ship").status()).status is durable.Status.FAILED


def _cli(*args: str) -> Any:
    from typer.testing import CliRunner

    from durable._cli.app import app as cli_app

    env = {"DURABLE_STORE": None, "DURABLE_DEBUG": None}
    return CliRunner().invoke(cli_app, list(args), env=env, catch_exceptions=False)


async def test_the_command_line_rewinds_and_dry_runs(store_url: str, tmp_path: Path) -> None:
    """``durable rewind ID --dry-run --app MODULE:APP`` prints what docs/concepts/rewind.md
    shows; with code that no longer fits, the NonDeterminismError; then ``durable rewind ID``."""
    async with durable.Worker(app, store_url), durable.Client(store_url, app=app) as client:
        ledger, api_up = str(tmp_path / "ledger.txt"), tmp_path / "api-up"
        handle = await client.start(checkout, "o-1", ledger, str(api_up), instance_id="order-o-1")
        with pytest.raises(durable.OrchestrationFailed):
            await handle.result(timeout=30)
        dry = ("rewind", "order-o-1", "--dry-run", "--store", store_url)
        shown = await anyio.to_thread.run_sync(lambda: _cli(*dry, "--app", "samples.rewind:app"))
        assert shown.exit_code == 0, shown.output
        page = (Path(__file__).parent.parent / "docs" / "concepts" / "rewind.md").read_text()
        assert (
            "$ durable rewind order-o-1 --dry-run --app samples.rewind:app\n" + shown.stdout in page
        )
        changed_app = "tests.test_rewind:changed"
        refused = await anyio.to_thread.run_sync(lambda: _cli(*dry, "--app", changed_app))
        assert refused.exit_code == 1 and "NonDeterminismError" not in refused.stdout
        assert "check_fraud" in refused.stderr
        missing = await anyio.to_thread.run_sync(lambda: _cli(*dry))
        assert missing.exit_code != 0 and "--app" in missing.output
        assert (await handle.status()).status is durable.Status.FAILED
        api_up.touch()
        real = ("rewind", "order-o-1", "--store", store_url)
        done = await anyio.to_thread.run_sync(lambda: _cli(*real))
        assert done.stdout == "rewind requested for instance 'order-o-1'\n"
        assert (await handle.result(timeout=30))["receipt"] == "receipt-o-1"
        again = await anyio.to_thread.run_sync(lambda: _cli(*real))
        assert again.exit_code == 1 and "only a FAILED instance can be rewound" in again.stderr
