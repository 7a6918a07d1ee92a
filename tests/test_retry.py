from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import tenacity
from hypothesis import given
from hypothesis import strategies as st

from durable._errors import ConfigurationError, SerializationError, StoreError, qualified_name
from durable._events import ErrorInfo
from durable._retry import RetryPolicy
from durable._worker.attempts import Outcome, retry_delay
from durable.stores.base import ActivityWorkItem


class PaymentDeclined(Exception):
    pass


class CardExpired(PaymentDeclined):
    pass


def seconds(policy: RetryPolicy, attempts: int, **kwargs: Any) -> list[float | None]:
    delays = [policy.next_delay(n, **kwargs) for n in range(1, attempts + 1)]
    return [None if d is None else d.total_seconds() for d in delays]


# --- construction ------------------------------------------------------------------------------


def test_defaults() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 3
    assert policy.initial_interval == timedelta(seconds=1)
    assert policy.backoff_coefficient == 2.0
    assert policy.max_interval == timedelta(seconds=60)
    assert policy.jitter == 0.1
    assert policy.non_retryable == ()
    assert policy.timeout is None
    assert policy == RetryPolicy()
    assert hash(policy) == hash(RetryPolicy())


def test_numbers_are_seconds_and_names_are_normalised() -> None:
    policy = RetryPolicy(
        initial_interval=2,  # type: ignore[arg-type]
        max_interval=30.5,  # type: ignore[arg-type]
        timeout=10,  # type: ignore[arg-type]
        backoff_coefficient=3,
        jitter=0,
        non_retryable=[ValueError, PaymentDeclined, "mypkg.Other"],  # type: ignore[arg-type]
    )
    assert policy.initial_interval == timedelta(seconds=2)
    assert policy.max_interval == timedelta(seconds=30.5)
    assert policy.timeout == timedelta(seconds=10)
    assert isinstance(policy.backoff_coefficient, float)
    assert isinstance(policy.jitter, float)
    assert policy.non_retryable == ("ValueError", qualified_name(PaymentDeclined), "mypkg.Other")


def test_zero_initial_interval_is_allowed() -> None:
    policy = RetryPolicy(initial_interval=timedelta(0), max_interval=timedelta(0), jitter=0)
    assert seconds(policy, 3) == [0.0, 0.0, None]


@pytest.mark.parametrize(
    ("kwargs", "culprit"),
    [
        ({"max_attempts": 0}, "max_attempts=0"),
        ({"max_attempts": -3}, "max_attempts=-3"),
        ({"max_attempts": 2.5}, "max_attempts=2.5"),
        ({"max_attempts": True}, "max_attempts=True"),
        ({"max_attempts": "3"}, "max_attempts='3'"),
        ({"initial_interval": -1}, "initial_interval=-1"),
        ({"initial_interval": timedelta(seconds=-1)}, "initial_interval="),
        ({"initial_interval": "1s"}, "initial_interval='1s'"),
        ({"initial_interval": float("nan")}, "initial_interval=nan"),
        ({"initial_interval": 1e300}, "initial_interval=1e+300"),
        ({"max_interval": -5}, "max_interval=-5"),
        ({"max_interval": 0.5}, "max_interval=0.5"),
        ({"initial_interval": 10, "max_interval": 5}, "max_interval=5"),
        ({"backoff_coefficient": 0.5}, "backoff_coefficient=0.5"),
        ({"backoff_coefficient": float("inf")}, "backoff_coefficient=inf"),
        ({"backoff_coefficient": "2"}, "backoff_coefficient='2'"),
        ({"jitter": -0.1}, "jitter=-0.1"),
        ({"jitter": 1.5}, "jitter=1.5"),
        ({"jitter": None}, "jitter=None"),
        ({"timeout": 0}, "timeout=0"),
        ({"timeout": timedelta(seconds=-1)}, "timeout="),
        ({"timeout": "10"}, "timeout='10'"),
        ({"non_retryable": "ValueError"}, "non_retryable='ValueError'"),
        ({"non_retryable": ValueError}, "non_retryable="),
        ({"non_retryable": (ValueError, 3)}, "non_retryable="),
        ({"non_retryable": (int,)}, "non_retryable="),
        ({"non_retryable": ("",)}, "non_retryable="),
    ],
)
def test_validation_names_the_field_and_value(kwargs: dict[str, Any], culprit: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        RetryPolicy(**kwargs)
    message = str(info.value)
    assert message.startswith(f"RetryPolicy({culprit}")
    assert "must be" in message


def test_max_attempts_message() -> None:
    with pytest.raises(ConfigurationError, match=r"must be >= 1 \(1 means no retry\)"):
        RetryPolicy(max_attempts=0)


# --- delays ------------------------------------------------------------------------------------


def test_exponential_delays_capped_without_jitter() -> None:
    policy = RetryPolicy(max_attempts=8, max_interval=timedelta(seconds=10), jitter=0)
    assert seconds(policy, 8) == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0, None]


def test_backoff_coefficient_and_initial_interval() -> None:
    policy = RetryPolicy(
        max_attempts=4,
        initial_interval=timedelta(milliseconds=500),
        backoff_coefficient=3,
        jitter=0,
    )
    assert seconds(policy, 4) == [0.5, 1.5, 4.5, None]


def test_jitter_band_edges_with_fixed_random() -> None:
    policy = RetryPolicy(max_attempts=4, jitter=0.1)
    low = seconds(policy, 4, random=lambda: 0.0)
    high = seconds(policy, 4, random=lambda: 1.0)
    middle = seconds(policy, 4, random=lambda: 0.5)
    assert low == pytest.approx([0.9, 1.8, 3.6, None])
    assert high == pytest.approx([1.1, 2.2, 4.4, None])
    assert middle == [1.0, 2.0, 4.0, None]


@given(attempt=st.integers(1, 50), draw=st.floats(0, 1), jitter=st.floats(0, 1))
def test_jitter_stays_in_band(attempt: int, draw: float, jitter: float) -> None:
    policy = RetryPolicy(max_attempts=100, jitter=jitter)
    exact = RetryPolicy(max_attempts=100, jitter=0).next_delay(attempt)
    delay = policy.next_delay(attempt, random=lambda: draw)
    assert exact is not None and delay is not None
    base = exact.total_seconds()
    tolerance = 1e-6
    assert (
        base * (1 - jitter) - tolerance <= delay.total_seconds() <= base * (1 + jitter) + tolerance
    )


def test_none_after_max_attempts() -> None:
    assert RetryPolicy(max_attempts=1).next_delay(1) is None
    policy = RetryPolicy(max_attempts=3)
    assert policy.next_delay(2) is not None
    assert policy.next_delay(3) is None
    assert policy.next_delay(10) is None


def test_huge_attempt_numbers_do_not_overflow() -> None:
    policy = RetryPolicy(max_attempts=10**9, jitter=0)
    assert policy.next_delay(10**6) == timedelta(seconds=60)


@pytest.mark.parametrize("attempt", [0, -1, True, 1.0])
def test_attempt_must_be_a_positive_int(attempt: Any) -> None:
    with pytest.raises(ValueError, match="attempt"):
        RetryPolicy().next_delay(attempt)


# --- retryable ---------------------------------------------------------------------------------


def test_everything_is_retryable_by_default() -> None:
    policy = RetryPolicy()
    assert policy.is_retryable(ValueError("x"))
    assert policy.is_retryable("mypkg.PaymentDeclined")


def test_non_retryable_by_type_name_and_subclass() -> None:
    policy = RetryPolicy(non_retryable=(PaymentDeclined, "KeyError", "LookupError"))
    assert not policy.is_retryable(PaymentDeclined())
    assert not policy.is_retryable(CardExpired())  # subclass of a listed type
    assert not policy.is_retryable(KeyError("k"))
    assert not policy.is_retryable(IndexError())  # subclass of LookupError, listed by name
    assert not policy.is_retryable(qualified_name(PaymentDeclined))
    assert not policy.is_retryable("KeyError")
    assert policy.is_retryable(ValueError())
    assert policy.is_retryable("ValueError")
    assert policy.is_retryable(qualified_name(CardExpired))  # a bare name has no base classes


def test_non_retryable_durable_errors_use_the_public_name() -> None:
    policy = RetryPolicy(non_retryable=(StoreError,))
    assert policy.non_retryable == ("durable.StoreError",)
    assert not policy.is_retryable(StoreError("down"))


# --- tenacity ----------------------------------------------------------------------------------


def test_from_tenacity_stop_and_wait() -> None:
    policy = RetryPolicy.from_tenacity(
        stop=tenacity.stop_after_attempt(4), wait=tenacity.wait_fixed(3)
    )
    assert policy.max_attempts == 4
    assert seconds(policy, 5) == [3.0, 3.0, 3.0, None, None]


def test_from_tenacity_combined_stops_and_elapsed_time() -> None:
    stop = tenacity.stop_after_attempt(10) | tenacity.stop_after_delay(30)
    policy = RetryPolicy.from_tenacity(stop=stop, wait=tenacity.wait_fixed(1))
    assert policy.next_delay(2) == timedelta(seconds=1)
    assert policy.next_delay(2, elapsed=timedelta(seconds=31)) is None
    assert policy.next_delay(2, elapsed=29.0) == timedelta(seconds=1)
    assert policy.next_delay(10) is None


def test_from_tenacity_combined_waits() -> None:
    wait = tenacity.wait_fixed(1) + tenacity.wait_random(0, 1)
    policy = RetryPolicy.from_tenacity(wait=wait)
    assert policy.max_attempts == 3
    delay = policy.next_delay(1)
    assert delay is not None
    assert 1.0 <= delay.total_seconds() <= 2.0
    exponential = RetryPolicy.from_tenacity(wait=tenacity.wait_exponential(multiplier=2, max=5))
    assert seconds(exponential, 3) == [2.0, 4.0, None]


def test_from_tenacity_without_stop_uses_max_attempts() -> None:
    policy = RetryPolicy.from_tenacity(retry=tenacity.retry_if_exception_type(OSError))
    assert seconds(policy, 3, random=lambda: 0.5) == [1.0, 2.0, None]


def test_from_tenacity_retry_predicates() -> None:
    only_os = RetryPolicy.from_tenacity(retry=tenacity.retry_if_exception_type(OSError))
    assert only_os.is_retryable(ConnectionError())
    assert not only_os.is_retryable(ValueError())
    assert only_os.is_retryable("ValueError")  # a name cannot be checked by a predicate
    not_value = RetryPolicy.from_tenacity(retry=tenacity.retry_if_not_exception_type(ValueError))
    assert not not_value.is_retryable(ValueError())
    assert not_value.is_retryable(KeyError())


def test_from_tenacity_policy_survives_replace() -> None:
    policy = RetryPolicy.from_tenacity(
        stop=tenacity.stop_after_attempt(2), wait=tenacity.wait_fixed(3)
    )
    changed = dataclasses.replace(policy, timeout=timedelta(seconds=5))
    assert changed.timeout == timedelta(seconds=5)
    assert seconds(changed, 2) == [3.0, None]


@pytest.mark.parametrize("name", ["stop", "wait", "retry"])
def test_from_tenacity_rejects_non_strategies(name: str) -> None:
    with pytest.raises(ConfigurationError, match=f"from_tenacity\\({name}=3\\)"):
        kwargs: dict[str, Any] = {name: 3}
        RetryPolicy.from_tenacity(**kwargs)


def test_from_tenacity_policy_is_not_storable() -> None:
    policy = RetryPolicy.from_tenacity(stop=tenacity.stop_after_attempt(4))
    with pytest.raises(ConfigurationError, match=r"@app\.activity\(retry=\.\.\.\)"):
        policy.to_json()


# --- delay_after: the one decision after a failed attempt ---------------------------------------


def test_delay_after_gives_seconds_until_the_attempts_run_out() -> None:
    policy = RetryPolicy(max_attempts=3, jitter=0)
    assert policy.delay_after(1, ValueError("x"), 0.0) == 1.0
    assert policy.delay_after(2, "ValueError", timedelta(hours=5)) == 2.0
    assert policy.delay_after(3, ValueError("x"), 0.0) is None


def test_delay_after_refuses_a_non_retryable_error_by_exception_or_name() -> None:
    policy = RetryPolicy(non_retryable=(PaymentDeclined,), jitter=0)
    assert policy.delay_after(1, CardExpired(), 0.0) is None
    assert policy.delay_after(1, qualified_name(PaymentDeclined), 0.0) is None
    assert policy.delay_after(1, KeyError("k"), 0.0) == 1.0
    only_os = RetryPolicy.from_tenacity(retry=tenacity.retry_if_exception_type(OSError))
    assert only_os.delay_after(1, ValueError(), 0.0) is None


def test_delay_after_draws_the_jitter_from_the_given_random() -> None:
    policy = RetryPolicy(jitter=0.1)
    assert policy.delay_after(1, ValueError(), 0.0, random=lambda: 1.0) == pytest.approx(1.1)


def test_stop_after_delay_stops_once_the_time_since_the_first_attempt_is_used_up() -> None:
    """The defect: with the elapsed time never given, a delay-only stop retried forever."""
    policy = RetryPolicy.from_tenacity(
        stop=tenacity.stop_after_delay(60), wait=tenacity.wait_fixed(5)
    )
    assert policy.delay_after(1, ValueError(), 0.0) == 5.0
    assert policy.delay_after(40, ValueError(), 59.9) == 5.0  # no attempt limit of its own
    assert policy.delay_after(2, ValueError(), 60.0) is None
    assert policy.delay_after(2, ValueError(), timedelta(minutes=2)) is None


def test_stop_before_delay_counts_the_coming_wait_too() -> None:
    policy = RetryPolicy.from_tenacity(
        stop=tenacity.stop_before_delay(60), wait=tenacity.wait_fixed(5)
    )
    assert policy.delay_after(3, ValueError(), 54.0) == 5.0
    assert policy.delay_after(3, ValueError(), 56.0) is None


def test_a_negative_elapsed_time_counts_as_none() -> None:
    policy = RetryPolicy.from_tenacity(
        stop=tenacity.stop_after_delay(1), wait=tenacity.wait_fixed(1)
    )
    assert policy.delay_after(1, ValueError(), -30.0) == 1.0  # another host's clock is behind


# --- retry_delay: the worker's use of it ---------------------------------------------------------


def attempt_item(attempt: int, scheduled_at: datetime) -> ActivityWorkItem:
    return ActivityWorkItem(
        id=1,
        instance_id="i",
        execution_id=1,
        task_id=0,
        name="charge",
        input="{}",
        queue="default",
        attempt=attempt,
        retry=None,
        timeout=None,
        heartbeat_timeout=None,
        heartbeat_details=None,
        scheduled_at=scheduled_at,
    )


T0 = datetime(2026, 1, 1, tzinfo=UTC)
FAILED = Outcome(error=ErrorInfo("ValueError", "x", ""), exception=ValueError("x"))


def test_retry_delay_measures_elapsed_time_from_the_activitys_scheduling() -> None:
    policy = RetryPolicy.from_tenacity(
        stop=tenacity.stop_after_delay(60), wait=tenacity.wait_fixed(5)
    )
    item = attempt_item(7, scheduled_at=T0)
    assert retry_delay(policy, FAILED, item, now=T0 + timedelta(seconds=30)) == 5.0
    assert retry_delay(policy, FAILED, item, now=T0 + timedelta(seconds=61)) is None
    assert retry_delay(policy, FAILED, attempt_item(1, datetime.now(UTC))) == 5.0  # host clock


def test_retry_delay_gives_up_on_results_and_on_unencodable_results() -> None:
    policy = RetryPolicy(jitter=0)
    item = attempt_item(1, scheduled_at=T0)
    assert retry_delay(policy, Outcome(result="1"), item, now=T0) is None
    unencodable = Outcome(error=ErrorInfo("x", "y", ""), exception=SerializationError("nan"))
    assert retry_delay(policy, unencodable, item, now=T0) is None
    assert retry_delay(policy, FAILED, item, now=T0) == 1.0
    assert retry_delay(policy, FAILED, 3, now=T0) is None  # an attempt number alone still works


# --- JSON --------------------------------------------------------------------------------------


def test_to_json_shape() -> None:
    policy = RetryPolicy(non_retryable=(ValueError,), timeout=timedelta(minutes=1))
    assert policy.to_json() == {
        "max_attempts": 3,
        "initial_interval": 1.0,
        "backoff_coefficient": 2.0,
        "max_interval": 60.0,
        "jitter": 0.1,
        "non_retryable": ["ValueError"],
        "timeout": 60.0,
    }


def test_from_json_fills_defaults_and_rejects_unknown_keys() -> None:
    assert RetryPolicy.from_json({}) == RetryPolicy()
    assert RetryPolicy.from_json({"max_attempts": 7}).max_attempts == 7
    with pytest.raises(ConfigurationError, match="unknown keys \\['retries'\\]"):
        RetryPolicy.from_json({"retries": 3})
    with pytest.raises(ConfigurationError, match="must be a JSON object"):
        RetryPolicy.from_json([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="max_attempts"):
        RetryPolicy.from_json({"max_attempts": 0})


durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2))


@st.composite
def policies(draw: st.DrawFn) -> RetryPolicy:
    initial = draw(durations)
    return RetryPolicy(
        max_attempts=draw(st.integers(1, 10**6)),
        initial_interval=initial,
        backoff_coefficient=draw(st.floats(1, 1000)),
        max_interval=initial + draw(durations),
        jitter=draw(st.floats(0, 1)),
        non_retryable=tuple(
            draw(st.lists(st.sampled_from([ValueError, PaymentDeclined, "mypkg.Other"])))
        ),
        timeout=draw(st.none() | durations.filter(bool)),
    )


@given(policies())
def test_json_round_trip(policy: RetryPolicy) -> None:
    data = json.loads(json.dumps(policy.to_json()))
    assert RetryPolicy.from_json(data) == policy
