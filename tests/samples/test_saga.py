"""samples/saga.py with the testing kit: bookings, and compensation in reverse order."""

from __future__ import annotations

import pytest

from durable.testing import Call, Environment
from samples.saga import SoldOut, app, book_car, book_trip, cancel

pytestmark = pytest.mark.durable_app(app)


async def test_a_trip_is_booked(durable_env: Environment) -> None:
    assert await durable_env.run(book_trip, "oslo") == {
        "booked": True,
        "bookings": ["flight-oslo", "hotel-oslo", "car-oslo"],
    }
    assert durable_env.calls(cancel) == []


async def test_no_car_cancels_the_hotel_then_the_flight(durable_env: Environment) -> None:
    durable_env.mock_activity(book_car, raises=SoldOut("no cars left in rome"))
    result = await durable_env.run(book_trip, "rome")
    assert result == {
        "booked": False,
        "reason": "no cars left in rome",
        "cancelled": ["hotel-rome", "flight-rome"],
    }
    assert durable_env.calls(cancel) == [Call(("hotel-rome",), {}), Call(("flight-rome",), {})]
    assert len(durable_env.calls(book_car)) == 1  # SoldOut is non-retryable
