"""External completion (docs/external-completion.md) on SQLite and PostgreSQL: an activity that
returns ``durable.complete_later()`` is completed through its token, from this process or another
one; a second completion is ignored; an unknown, forged or finished token raises
``InstanceNotFound``; the attempt's timeout still applies."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import anyio
import pytest

import durable
from durable._worker.handoff import Token
from samples.webhook_approval import app, approve_order, pending_requests
from tests.chaos.harness import ROOT, Workers, worker_command

timed = durable.App()
TOKENS: list[str] = []


@timed.activity(timeout=1.0, retry=durable.RetryPolicy(max_attempts=5, initial_interval=0.01))
def ask() -> Any:
    TOKENS.append(durable.activity_info().token)
    return durable.complete_later()


@timed.orchestrator
def asking(ctx: durable.OrchestrationContext) -> Generator[durable.Task[Any], Any, Any]:
    return (yield ctx.call_activity(ask))


async def _requests(outbox: str, count: int = 1) -> list[dict[str, str]]:
    with anyio.fail_after(30):
        while len(pending_requests(outbox)) < count:
            await anyio.sleep(0.02)
    return pending_requests(outbox)


async def test_complete_in_this_process_and_a_second_completion_is_ignored(
    store_url: str, tmp_path: Path
) -> None:
    outbox = str(tmp_path / "outbox.jsonl")
    async with durable.Worker(app, store_url), durable.Client(store_url, app=app) as client:
        handle = await client.start(approve_order, "o-1", outbox)
        [request] = await _requests(outbox)
        assert await client.complete_activity(request["token"], {"by": "alice"}) is True
        assert await client.complete_activity(request["token"], {"by": "mallory"}) is False
        assert await handle.result(timeout=30) == "order o-1 approved by alice"
        # after the end too: that attempt had its outcome, the call changes nothing
        assert await client.complete_activity(request["token"], {"by": "bob"}) is False
        assert await client.fail_activity(request["token"], "too late") is False


async def test_fail_activity_fails_the_call(store_url: str, tmp_path: Path) -> None:
    outbox = str(tmp_path / "outbox.jsonl")
    async with durable.Worker(app, store_url), durable.Client(store_url, app=app) as client:
        handle = await client.start(approve_order, "o-2", outbox)
        [request] = await _requests(outbox)
        assert await client.fail_activity(request["token"], "over budget") is True
        assert await handle.result(timeout=30) == "order o-2 refused: over budget"


async def test_unknown_and_forged_tokens_name_no_instance(store_url: str, tmp_path: Path) -> None:
    outbox = str(tmp_path / "outbox.jsonl")
    async with durable.Worker(app, store_url), durable.Client(store_url, app=app) as client:
        for garbage in ("", "not-a-token", "e30", "W10"):
            with pytest.raises(durable.InstanceNotFound, match="not an activity token"):
                await client.complete_activity(garbage, 1)
        handle = await client.start(approve_order, "o-3", outbox)
        [request] = await _requests(outbox)
        real = Token.decode(request["token"])
        forged = Token(*[*vars_of(real)[:-1], "guessed-nonce"]).encode()
        with pytest.raises(durable.InstanceNotFound, match="is over"):
            await client.complete_activity(forged, {"by": "mallory"})
        elsewhere = Token("no-such-instance", *vars_of(real)[1:]).encode()
        with pytest.raises(durable.InstanceNotFound, match="no-such-instance"):
            await client.complete_activity(elsewhere, {"by": "mallory"})
        assert await client.complete_activity(request["token"], {"by": "alice"}) is True
        assert await handle.result(timeout=30) == "order o-3 approved by alice"


def vars_of(token: Token) -> list[Any]:
    return [
        token.instance_id,
        token.execution_id,
        token.task_id,
        token.activity_id,
        token.attempt,
        token.nonce,
    ]


async def test_the_timeout_still_applies_and_an_earlier_attempts_token_is_over(
    store_url: str,
) -> None:
    TOKENS.clear()
    async with (
        durable.Worker(timed, store_url, poll_interval=0.05),
        durable.Client(store_url, app=timed) as client,
    ):
        handle = await client.start(asking)
        with anyio.fail_after(30):  # the first attempt runs out after 1 s; the next one asks again
            while len(TOKENS) < 2:
                await anyio.sleep(0.05)
        first, second = TOKENS[0], TOKENS[1]
        assert Token.decode(second).attempt == Token.decode(first).attempt + 1
        with pytest.raises(durable.InstanceNotFound, match=r"attempt 1 .* is over"):
            await client.complete_activity(first, "stale")
        assert await client.complete_activity(second, "fresh") is True
        assert await handle.result(timeout=30) == "fresh"


async def test_completed_from_another_process(store_url: str, tmp_path: Path) -> None:
    """The worker runs in a process of its own; the completion comes from this one, and from a
    CLI process (``durable complete``) for a second instance."""
    outbox = str(tmp_path / "outbox.jsonl")
    workers = Workers(
        store_url, tmp_path / "ledger", tmp_path, worker_command("samples.webhook_approval:app")
    )
    workers.start()
    try:
        async with durable.Client(store_url, app=app) as client:
            one = await client.start(approve_order, "o-4", outbox)
            two = await client.start(approve_order, "o-5", outbox)
            requests = {r["order_id"]: r["token"] for r in await _requests(outbox, 2)}
            assert await client.complete_activity(requests["o-4"], {"by": "alice"}) is True
            cli = [sys.executable, "-m", "durable", "complete", requests["o-5"]]
            done = subprocess.run(
                [*cli, "--result", '{"by": "the CLI"}', "--store", store_url],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
            assert await one.result(timeout=30) == "order o-4 approved by alice"
            assert await two.result(timeout=30) == "order o-5 approved by the CLI"
    finally:
        workers.stop_all()


async def test_the_command_line_fails_and_reports_a_bad_token(
    store_url: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from durable._cli.app import app as cli_app

    def cli(*args: str) -> Any:
        env = {"DURABLE_STORE": store_url, "DURABLE_DEBUG": None}
        return CliRunner().invoke(cli_app, list(args), env=env, catch_exceptions=False)

    outbox = str(tmp_path / "outbox.jsonl")
    async with durable.Worker(app, store_url), durable.Client(store_url, app=app) as client:
        handle = await client.start(approve_order, "o-6", outbox)
        [request] = await _requests(outbox)
        failing = ("fail", request["token"], "--message", "no budget", "--type", "shop.NoBudget")
        failed = await anyio.to_thread.run_sync(lambda: cli(*failing))
        assert failed.stdout == "activity attempt failed\n"
        assert await handle.result(timeout=30) == "order o-6 refused: no budget"
        again = await anyio.to_thread.run_sync(lambda: cli("complete", request["token"]))
        assert again.exit_code == 0 and again.stdout.startswith("ignored:")
        bad = await anyio.to_thread.run_sync(lambda: cli("complete", "nonsense", "--result", "1"))
        assert bad.exit_code == 1
        assert bad.stderr == "durable: error: 'nonsense' is not an activity token\n"
