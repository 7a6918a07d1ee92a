"""What each sample's golden histories record: its orchestrators driven in a testing Environment.

Each scenario runs on a fixed virtual start time with fixed instance ids, mocks the activities
that are not deterministic (real sleeps, process-wide state), and returns the instances it
leaves in the store (finished ones and ones still waiting). ``record`` writes them as
``<sample>.jsonl`` (``durable export``'s format); ``test_golden`` replays those files against
the current code. Re-record only for a new sample or scenario: a change that stops a recorded
history from replaying is what the golden files are there to catch.

    python -m tests.golden.record
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import durable
from durable.stores.dumps import InstanceDump
from durable.testing import Environment
from samples import (
    bank,
    checkout,
    control,
    cpu_bound,
    failover,
    fan_out,
    human_approval,
    llm_queue,
    llm_stream,
    monitor,
    nightly_report,
    retries_and_heartbeats,
    rewind,
    saga,
    shopping_cart,
    sub_orchestrations,
    typed_payloads,
    webhook_approval,
)
from tests.golden.versions import v1, v2

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
Scenario = Callable[[int], Awaitable[list[InstanceDump]]]


def env(app: durable.App, cache_size: int, **options: object) -> Environment:
    return Environment(app, start=START, cache_size=cache_size, **options)  # type: ignore[arg-type]


async def finish(handle: durable.InstanceHandle) -> None:
    """Wait for the instance to end, however it ends."""
    with contextlib.suppress(durable.DurableError):
        await handle.result(timeout=30)


async def _bank(cache_size: int) -> list[InstanceDump]:
    async with env(bank.app, cache_size) as e:
        for key, cents in (("alice", 100_00), ("bob", 20_00)):
            await e.client.signal_entity(durable.EntityId("Account", key), "deposit", cents)
        await e.settle()
        await e.run(bank.transfer, "alice", "bob", 30_00, instance_id="moved")
        await e.run(bank.transfer, "bob", "alice", 90_00, instance_id="refused")
        await e.run(bank.total, ["alice", "bob"], instance_id="total")
        # the entities themselves have no history to replay: only the orchestrations are kept
        return [d for d in await e.store.export_instances() if not d.name.startswith("@")]


async def _checkout(cache_size: int) -> list[InstanceDump]:
    order = {"id": "o-1", "cents": 500, "items": [1, 2]}
    async with env(checkout.app, cache_size) as e:
        approved = await e.client.start(checkout.checkout, order, instance_id="approved")
        await approved.raise_event("approved", True)
        declined = await e.client.start(checkout.checkout, order, instance_id="declined")
        await declined.raise_event("approved", False)
        for handle in (approved, declined):
            await finish(handle)
        await finish(await e.client.start(checkout.checkout, order, instance_id="timed-out"))
        return await e.store.export_instances()


async def _control(cache_size: int) -> list[InstanceDump]:
    async with env(control.app, cache_size) as e:
        summed = await e.client.start(control.tally, "a", instance_id="summed")
        for amount in (5, 7, None):
            await summed.raise_event("add", amount)
        await finish(summed)
        cancelled = await e.client.start(control.tally, "b", instance_id="cancelled")
        await cancelled.raise_event("add", 3)
        await e.settle()
        await cancelled.cancel("customer left")
        await finish(cancelled)
        waiting = await e.client.start(control.tally, "c", instance_id="waiting")
        await waiting.raise_event("add", 1)
        await e.settle()
        return await e.store.export_instances()


async def _failover(cache_size: int) -> list[InstanceDump]:
    async with env(failover.app, cache_size) as e:
        await e.run(failover.transcribe, "clip-1", instance_id="on-gpu")
        dumps = await e.store.export_instances()
    async with env(failover.app, cache_size, queues=["default"]) as e:
        await e.run(failover.transcribe, "clip-2", instance_id="on-cpu")
        return dumps + await e.store.export_instances()


async def _fan_out(cache_size: int) -> list[InstanceDump]:
    async with env(fan_out.app, cache_size) as e:
        e.mock_activity(fan_out.count_words, side_effect=len)
        await e.run(fan_out.word_count, "example.org", instance_id="site")
        return await e.store.export_instances()


async def _human_approval(cache_size: int) -> list[InstanceDump]:
    day = 86400.0
    async with env(human_approval.app, cache_size) as e:
        approved = await e.client.start(human_approval.approve_expense, 100, day, instance_id="ok")
        await approved.raise_event("decision", {"approved": True})
        await finish(approved)
        await finish(
            await e.client.start(human_approval.approve_expense, 200, day, instance_id="late")
        )
        escalated = await e.client.start(human_approval.escalate, 300, day, instance_id="up")
        await e.advance(timedelta(days=1, seconds=1))
        await escalated.raise_event("decision", {"approved": False})
        await finish(escalated)
        return await e.store.export_instances()


async def _llm_queue(cache_size: int) -> list[InstanceDump]:
    async with env(llm_queue.app, cache_size) as e:
        big = await e.client.start(
            llm_queue.summarize_all, "big", 6, instance_id="big", fairness_key="big"
        )
        small = await e.client.start(
            llm_queue.summarize_all, "small", 2, instance_id="small", fairness_key="small"
        )
        for handle in (big, small):
            await finish(handle)
        return await e.store.export_instances()


async def _nightly_report(cache_size: int) -> list[InstanceDump]:
    async with env(nightly_report.app, cache_size) as e:
        await e.advance(timedelta(days=2))  # two nights: two scheduled reports
        return await e.store.export_instances()


async def _monitor(cache_size: int) -> list[InstanceDump]:
    async with env(monitor.app, cache_size) as e:
        states = iter(["running", "running", "done"])
        e.mock_activity(monitor.job_state, side_effect=lambda job_id: next(states))
        await e.run(monitor.watch_job, "build-1", 5, instance_id="done")
        e.mock_activity(monitor.job_state, returns="running")
        await e.run(monitor.watch_job, "build-2", 2, instance_id="gave-up")
        return await e.store.export_instances()


async def _retries(cache_size: int) -> list[InstanceDump]:
    app = retries_and_heartbeats.app
    async with env(app, cache_size) as e:
        e.mock_activity(retries_and_heartbeats.import_rows, returns="10 rows imported")
        await e.run(retries_and_heartbeats.nightly_import, 10, instance_id="nightly")
        return await e.store.export_instances()


async def _saga(cache_size: int) -> list[InstanceDump]:
    async with env(saga.app, cache_size) as e:
        for city in ("oslo", "lisbon"):
            await e.run(saga.book_trip, city, instance_id=city)
        return await e.store.export_instances()


async def _sub_orchestrations(cache_size: int) -> list[InstanceDump]:
    order = {"oslo": ["a"], "lyon": ["b", "c"], "reykjavik": ["d"]}
    async with env(sub_orchestrations.app, cache_size) as e:
        await e.run(sub_orchestrations.fulfil, order, instance_id="order")
        return await e.store.export_instances()


async def _typed_payloads(cache_size: int) -> list[InstanceDump]:
    from decimal import Decimal

    order = typed_payloads.Order("o-7", Decimal("19.99"), START)
    async with env(typed_payloads.app, cache_size) as e:
        await e.run(typed_payloads.bill, order, instance_id="bill")
        return await e.store.export_instances()


async def _versioning(cache_size: int) -> list[InstanceDump]:
    async with env(v1, cache_size) as e:  # recorded by version 1, replayed by version 2
        for instance_id in ("v1-waiting", "v1-shipped"):
            await e.client.start("checkout", instance_id, instance_id=instance_id)
        await e.settle()
        await e.client.get("v1-shipped").raise_event("shipped")
        await finish(e.client.get("v1-shipped"))
        dumps = await e.store.export_instances()
    async with env(v2, cache_size) as e:
        await e.client.start("checkout", "v2-waiting", instance_id="v2-waiting")
        await e.settle()
        return dumps + await e.store.export_instances()


def _scratch(name: str) -> Path:
    """A file path the samples' activities write, the same in both runs of one process (the
    arguments recorded must match), removed first."""
    path = Path(tempfile.gettempdir()) / f"durable-golden-{os.getpid()}-{name}"
    path.unlink(missing_ok=True)
    return path


async def _webhook_approval(cache_size: int) -> list[InstanceDump]:
    outbox = str(_scratch("outbox.jsonl"))
    sample = webhook_approval
    async with env(sample.app, cache_size) as e:
        approved = await e.client.start(sample.approve_order, "o-1", outbox, instance_id="ok")
        refused = await e.client.start(sample.approve_order, "o-2", outbox, instance_id="no")
        await e.settle()
        tokens = {r["order_id"]: r["token"] for r in sample.pending_requests(outbox)}
        await e.client.complete_activity(tokens["o-1"], {"by": "alice"})
        await e.client.fail_activity(tokens["o-2"], "over budget")
        for handle in (approved, refused):
            await finish(handle)
        silent = await e.client.start(sample.approve_order, "o-3", outbox, instance_id="silent")
        for _ in range(3):  # each request's hour runs out
            await e.settle()
            await e.advance(timedelta(hours=1, seconds=1))
        await finish(silent)
        return await e.store.export_instances()


async def _rewind(cache_size: int) -> list[InstanceDump]:
    ledger, api_up = _scratch("ledger.txt"), _scratch("api-up")
    async with env(rewind.app, cache_size) as e:
        order = await e.client.start(
            rewind.checkout, "o-1", str(ledger), str(api_up), instance_id="order"
        )
        await finish(order)  # FAILED: the courier's API is down
        api_up.touch()
        await order.rewind()
        await finish(order)
        return await e.store.export_instances()


async def _cpu_bound(cache_size: int) -> list[InstanceDump]:
    async with env(cpu_bound.app, cache_size) as e:
        await e.run(cpu_bound.primes_below, 1000, 4, instance_id="primes")
        e.mock_activity(cpu_bound.spin, raises=TimeoutError("killed"))
        await e.run(cpu_bound.runaway, instance_id="runaway")
        return await e.store.export_instances()


#: sample file name (without .py) -> (the app its histories replay against, the scenario)
async def _shopping_cart(cache_size: int) -> list[InstanceDump]:
    async with env(shopping_cart.app, cache_size) as e:
        paid = await e.client.start(shopping_cart.cart, {}, instance_id="paid")
        for verb, item in [
            ("add", "apple"),
            ("add", "caviar"),
            ("add", "bread"),
            ("remove", "apple"),
        ]:
            with contextlib.suppress(durable.UpdateRejected):
                await paid.update(verb, item, timeout=30)
        await paid.update("checkout", None, timeout=30)
        await finish(paid)
        open_cart = await e.client.start(shopping_cart.cart, {}, instance_id="open")
        await open_cart.update("add", "cheese", timeout=30)  # still waiting for more
        return await e.store.export_instances()


async def _llm_stream(cache_size: int) -> list[InstanceDump]:
    async with env(llm_stream.app, cache_size) as e:
        e.mock_activity(llm_stream.generate, returns="a mocked answer")
        await finish(await e.client.start(llm_stream.answer, "why?", instance_id="answer"))
        return await e.store.export_instances()


SCENARIOS: dict[str, tuple[durable.App, Scenario]] = {
    "bank": (bank.app, _bank),
    "checkout": (checkout.app, _checkout),
    "control": (control.app, _control),
    "cpu_bound": (cpu_bound.app, _cpu_bound),
    "failover": (failover.app, _failover),
    "fan_out": (fan_out.app, _fan_out),
    "human_approval": (human_approval.app, _human_approval),
    "llm_queue": (llm_queue.app, _llm_queue),
    "llm_stream": (llm_stream.app, _llm_stream),
    "monitor": (monitor.app, _monitor),
    "nightly_report": (nightly_report.app, _nightly_report),
    "retries_and_heartbeats": (retries_and_heartbeats.app, _retries),
    "rewind": (rewind.app, _rewind),
    "saga": (saga.app, _saga),
    "shopping_cart": (shopping_cart.app, _shopping_cart),
    "sub_orchestrations": (sub_orchestrations.app, _sub_orchestrations),
    "typed_payloads": (typed_payloads.app, _typed_payloads),
    "versioning": (v2, _versioning),
    "webhook_approval": (webhook_approval.app, _webhook_approval),
}
