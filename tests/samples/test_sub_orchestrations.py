"""samples/sub_orchestrations.py with the testing kit: children per warehouse, one failing."""

from __future__ import annotations

import pytest

from durable.testing import Environment
from samples.sub_orchestrations import app, fulfil, hand_to_carrier, ship_parcel

pytestmark = pytest.mark.durable_app(app)
ORDER = {"oslo": ["a"], "lyon": ["b", "c"], "reykjavik": ["d"]}


async def test_each_warehouse_ships_and_one_has_no_carrier(durable_env: Environment) -> None:
    assert await durable_env.run(fulfil, ORDER, instance_id="order-1") == {
        "lyon": "track-label-lyon-2",
        "oslo": "track-label-oslo-1",
        "reykjavik": "not shipped (durable.ActivityFailed)",
    }
    assert len([c for c in durable_env.calls(hand_to_carrier) if c.args[0] == "reykjavik"]) == 2


async def test_the_children_can_be_mocked(durable_env: Environment) -> None:
    durable_env.mock_sub_orchestrator(ship_parcel, side_effect=lambda w, items: f"fake-{w}")
    assert await durable_env.run(fulfil, {"oslo": ["a"]}) == {"oslo": "fake-oslo"}
