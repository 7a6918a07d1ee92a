"""The dashboard's view of a history (``durable.dashboard.flow``), and the app the dashboard's
other tests run: a checkout that fans out, retries, calls a sub-orchestration and sleeps; an
approval that waits for an event; an order that fails."""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any

import durable
from durable import _events as ev
from durable.dashboard.flow import DONE, FAILED, MAX_STEPS, PENDING, build_flow, flow_json

app = durable.App()


@app.activity
async def reserve(item: str) -> str:
    return f"reserved-{item}"


@app.activity(retry=durable.RetryPolicy(max_attempts=2, initial_interval=timedelta(milliseconds=1)))
async def charge(cents: int) -> str:
    if cents < 0:
        raise ValueError(f"cannot charge {cents} cents")
    return f"receipt-{cents}"


@app.orchestrator
def ship(ctx: durable.OrchestrationContext, order_id: str) -> Generator[Any, Any, str]:
    label = yield ctx.call_activity(reserve, f"label-{order_id}")
    return f"tracking-{label}"


@app.orchestrator
def checkout(ctx: durable.OrchestrationContext, order: dict[str, Any]) -> Generator[Any, Any, Any]:
    reserved = yield ctx.when_all([ctx.call_activity(reserve, item) for item in order["items"]])
    receipt = yield ctx.call_activity(charge, order["cents"])
    yield ctx.sleep(timedelta(milliseconds=10))
    tracking = yield ctx.call_sub_orchestrator(ship, order["id"], instance_id=f"{order['id']}-ship")
    return {"reserved": reserved, "receipt": receipt, "tracking": tracking}


@app.orchestrator
def approval(ctx: durable.OrchestrationContext, order_id: str) -> Generator[Any, Any, Any]:
    ctx.set_custom_status({"stage": "waiting for approval"})
    approved = yield ctx.wait_for_event("approved")
    return {"order": order_id, "approved": approved}


ORDER = {"id": "o-1", "cents": 500, "items": ["book", "pen", "lamp"]}
BAD_ORDER = {"id": "o-2", "cents": -5, "items": ["mug"]}


# -- build_flow over hand-made histories ---------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def history() -> list[ev.HistoryEvent]:
    failure = ev.ErrorInfo("ValueError", "no", "Traceback ...")
    events: list[ev.HistoryEvent] = [
        ev.ExecutionStarted(name="checkout", input="[]", timestamp=at(0)),
        ev.ActivityScheduled(task_id=0, name="reserve", input="[]", timestamp=at(1)),
        ev.ActivityScheduled(task_id=1, name="reserve", input="[]", timestamp=at(1)),
        ev.ActivityCompleted(task_id=1, result="1", timestamp=at(2)),
        ev.ActivityCompleted(task_id=0, result="1", timestamp=at(3)),
        ev.ActivityScheduled(task_id=2, name="charge", input="[]", timestamp=at(3)),
        ev.ActivityFailed(task_id=2, error=failure, attempts=3, timestamp=at(5)),
        ev.TimerCreated(task_id=3, fire_at=at(60), timestamp=at(5)),
        ev.EventRaised(name="approved", payload="true", timestamp=at(6)),
        ev.SubOrchestrationScheduled(
            task_id=4, name="ship", instance_id="o-1-ship", input="[]", timestamp=at(7)
        ),
    ]
    return [dataclasses.replace(event, seq=seq) for seq, event in enumerate(events)]


def test_a_step_groups_the_effects_one_episode_scheduled_fan_out_then_fan_in() -> None:
    flow = build_flow(history())
    kinds = [step["type"] for step in flow.steps]
    assert kinds == ["marker", "effects", "effects", "effects", "marker", "effects"]
    assert flow.steps[1]["effects"] == [0, 1]  # the fan-out of two reserves
    assert [flow.effects[i].label for i in flow.steps[2]["effects"]] == ["charge"]
    assert flow.markers[1]["kind"] == "EventRaised" and flow.markers[1]["name"] == "approved"


def test_effects_carry_their_outcome_duration_attempts_and_error() -> None:
    flow = build_flow(history())
    reserve0, reserve1, charge_, timer, ship_ = flow.effects
    assert (reserve0.state, reserve1.state) == (DONE, DONE)
    assert reserve0.to_json()["duration_ms"] == 2000.0
    assert charge_.state == FAILED and charge_.attempts == 3
    assert charge_.to_json()["error"] == {
        "type": "ValueError",
        "message": "no",
        "traceback": "Traceback ...",
    }
    assert timer.state == PENDING and timer.to_json()["due"] == at(60).isoformat()
    assert ship_.kind == "suborchestration" and ship_.child == "o-1-ship"


def test_nested_flows_are_drawn_inside_their_sub_orchestration() -> None:
    nested = {"effects": [], "markers": [], "steps": [], "truncated_steps": 0}
    data = flow_json(build_flow(history()), {"o-1-ship": nested}.get)
    assert data["effects"][4]["flow"] == nested
    assert "flow" not in data["effects"][0]


def test_a_long_history_draws_its_first_steps_and_counts_the_rest() -> None:
    events: list[ev.HistoryEvent] = [ev.ExecutionStarted(name="loop", input="[]", seq=0)]
    for n in range(MAX_STEPS + 50):
        events.append(
            ev.ActivityScheduled(seq=2 * n + 1, task_id=n, name="a", input="[]", timestamp=at(n))
        )
        events.append(ev.ActivityCompleted(seq=2 * n + 2, task_id=n, result="1", timestamp=at(n)))
    flow = build_flow(events)
    assert len(flow.steps) == MAX_STEPS
    assert flow.truncated == 51
    assert len(flow.effects) == MAX_STEPS + 50  # the timeline keeps them all
