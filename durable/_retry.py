"""Retry policies: how often an activity is attempted and how long to wait between attempts.

A `RetryPolicy` only decides; it never sleeps. After a failed attempt, `delay_after(attempt,
error, elapsed)` says how long to wait before the next one (or that none remains); the worker
stores the next attempt with that not-before time, so retries survive crashes and may run on
another host, and the interpreter continues a failed sub-orchestration as new after it. Delays
are computed with tenacity's wait strategies.
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any

import tenacity

from durable._errors import ConfigurationError, qualified_name

from ._durations import to_timedelta

_StopFn = Callable[[tenacity.RetryCallState], bool]
_WaitFn = Callable[[tenacity.RetryCallState], float]
_RetryFn = Callable[[tenacity.RetryCallState], bool]

_NOT_STORABLE = (
    "a RetryPolicy built with RetryPolicy.from_tenacity(...) holds tenacity strategy objects and "
    "cannot be stored; register it on the activity with @app.activity(retry=...) instead of "
    "passing it per call"
)


def _bad(name: str, value: object, rule: str) -> ConfigurationError:
    return ConfigurationError(f"RetryPolicy({name}={value!r}): {rule}")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _duration(name: str, value: object, *, allow_zero: bool) -> timedelta:
    """Normalise seconds or a timedelta to a timedelta, rejecting negative (or zero) ones."""
    return to_timedelta(value, f"RetryPolicy({name}={value!r})", allow_zero=allow_zero)


def _number(name: str, value: object, low: float, high: float, rule: str) -> float:
    number = float(value) if _is_number(value) else math.nan  # type: ignore[arg-type]
    if not low <= number <= high or not math.isfinite(number):
        raise _bad(name, value, rule)
    return number


def _names(value: object) -> tuple[str, ...]:
    """Normalise exception types and qualified names to a tuple of qualified names."""
    rule = "must be a tuple or list of exception types or qualified names, e.g. (ValueError,)"
    if not isinstance(value, tuple | list):
        raise _bad("non_retryable", value, rule)
    names: list[str] = []
    for item in value:
        if isinstance(item, type) and issubclass(item, BaseException):
            names.append(qualified_name(item))
        elif isinstance(item, str) and item:
            names.append(item)
        else:
            raise _bad("non_retryable", value, f"{rule}; {item!r} is neither")
    return tuple(names)


def _call_state(attempt: int, elapsed: float = 0.0) -> tenacity.RetryCallState:
    """A tenacity call state as tenacity has it after attempt number `attempt` failed."""
    state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    state.start_time = 0.0
    state.outcome_timestamp = elapsed
    return state


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How an activity (or sub-orchestration) is retried after a failed attempt.

    Durations accept a `timedelta` or a number of seconds. The delay before attempt `n + 1` is
    `initial_interval * backoff_coefficient ** (n - 1)`, capped at `max_interval`, then multiplied
    by a random factor in `[1 - jitter, 1 + jitter]`.

    Attributes:
        max_attempts: how many attempts in total, the first included (default 3; 1 means no
            retry).
        initial_interval: the delay before the second attempt (default 1 s; 0 is allowed).
        backoff_coefficient: each delay is the previous one times this (default 2.0; >= 1).
        max_interval: the longest delay before jitter (default 60 s; >= `initial_interval`).
        jitter: the fraction by which each delay is randomly stretched or shrunk (default 0.1,
            between 0 and 1; 0 gives exact delays).
        non_retryable: exception types, or their qualified names (`"ValueError"`,
            `"mypkg.PaymentDeclined"`), that fail the activity at once; subclasses count too.
            Stored as a tuple of qualified names (default: none).
        timeout: the longest one attempt may run; an attempt that runs longer is cancelled and
            counts as a failed attempt (default `None`: no limit).
    """

    max_attempts: int = 3
    initial_interval: timedelta = timedelta(seconds=1)
    backoff_coefficient: float = 2.0
    max_interval: timedelta = timedelta(seconds=60)
    jitter: float = 0.1
    non_retryable: tuple[type[BaseException] | str, ...] = ()
    timeout: timedelta | None = None
    _stop: _StopFn | None = field(default=None, compare=False, repr=False)
    _wait: _WaitFn | None = field(default=None, compare=False, repr=False)
    _retry: _RetryFn | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or isinstance(self.max_attempts, bool):
            raise _bad("max_attempts", self.max_attempts, "must be an int >= 1")
        if self.max_attempts < 1:
            raise _bad("max_attempts", self.max_attempts, "must be >= 1 (1 means no retry)")
        initial = _duration("initial_interval", self.initial_interval, allow_zero=True)
        maximum = _duration("max_interval", self.max_interval, allow_zero=True)
        if maximum < initial:
            raise _bad(
                "max_interval",
                self.max_interval,
                f"must be >= initial_interval ({initial.total_seconds()} s)",
            )
        coefficient = _number(
            "backoff_coefficient",
            self.backoff_coefficient,
            1.0,
            math.inf,
            "must be a finite number >= 1",
        )
        jitter = _number("jitter", self.jitter, 0.0, 1.0, "must be a number between 0 and 1")
        timeout = self.timeout
        if timeout is not None:
            timeout = _duration("timeout", timeout, allow_zero=False)
        for name, value in [
            ("initial_interval", initial),
            ("max_interval", maximum),
            ("backoff_coefficient", coefficient),
            ("jitter", jitter),
            ("non_retryable", _names(self.non_retryable)),
            ("timeout", timeout),
        ]:
            object.__setattr__(self, name, value)

    @classmethod
    def from_tenacity(
        cls,
        *,
        stop: _StopFn | None = None,
        wait: _WaitFn | None = None,
        retry: _RetryFn | None = None,
    ) -> RetryPolicy:
        """A policy driven by tenacity's own strategy objects.

        Args:
            stop: e.g. `stop_after_attempt(5)`, `stop_after_delay(60)` or a combination with
                `|` / `&`; `None` keeps `max_attempts=3`. Delays are measured from the start of
                the first attempt (see `delay_after`'s `elapsed`).
            wait: e.g. `wait_fixed(3)`, `wait_exponential(...)`, `wait_random(1, 2)` or a sum of
                them; used as is, without the policy's jitter. `None` keeps the default backoff.
            retry: e.g. `retry_if_exception_type(IOError)` or `retry_if_not_exception_type(...)`:
                an exception it rejects fails the activity at once.

        Strategies that need more than `delay_after` knows (the attempt number, the elapsed
        time and the exception), such as `wait_exception` or `retry_if_result`, are not
        supported.

        Such a policy is not storable (`to_json` refuses it): register it on the activity with
        `@app.activity(retry=...)`.
        """
        for name, value in [("stop", stop), ("wait", wait), ("retry", retry)]:
            if value is not None and not callable(value):
                raise ConfigurationError(
                    f"RetryPolicy.from_tenacity({name}={value!r}): must be a tenacity "
                    f"{name} strategy (e.g. tenacity.{name}_...) or None"
                )
        max_attempts = 3
        if isinstance(stop, tenacity.stop_after_attempt):
            max_attempts = max(1, stop.max_attempt_number)
        jitter = 0.0 if wait is not None else 0.1
        return cls(max_attempts=max_attempts, jitter=jitter, _stop=stop, _wait=wait, _retry=retry)

    def delay_after(
        self,
        attempt: int,
        error: BaseException | str,
        elapsed: timedelta | float,
        *,
        random: Callable[[], float] = _random.random,
    ) -> float | None:
        """Seconds to wait before the next attempt, or `None` when there is none.

        The one decision after a failed attempt: `None` when `error` is not retryable (see
        `is_retryable`) or when the attempts or the time are used up (see `next_delay`).

        Args:
            attempt: the number (1-based) of the attempt that just failed.
            error: its exception, or the exception's qualified type name (`"ValueError"`).
            elapsed: seconds (or a `timedelta`) since the first attempt started; a
                `from_tenacity` policy with `stop_after_delay` stops on it.
            random: draws the jitter, as in `next_delay`.
        """
        if not self.is_retryable(error):
            return None
        delay = self.next_delay(attempt, elapsed=elapsed, random=random)
        return None if delay is None else delay.total_seconds()

    def next_delay(
        self,
        attempt: int,
        *,
        elapsed: timedelta | float = 0.0,
        random: Callable[[], float] = _random.random,
    ) -> timedelta | None:
        """The delay before the next attempt, or `None` when no attempt remains.

        Args:
            attempt: the number (1-based) of the attempt that just failed.
            elapsed: time since the first attempt started (a negative one counts as 0); only a
                `from_tenacity` policy with a delay-based stop (`stop_after_delay`) looks at it.
            random: a function returning a float in `[0, 1]` that draws the jitter (inject a
                fixed one for deterministic tests); 0 and 1 give the edges of the band.
        """
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValueError(f"attempt must be an int >= 1, got {attempt!r}")
        seconds_elapsed = elapsed.total_seconds() if isinstance(elapsed, timedelta) else elapsed
        state = _call_state(attempt, max(0.0, float(seconds_elapsed)))  # clocks of two hosts
        seconds = float(self._waiter()(state))
        if self.jitter:
            seconds *= 1.0 + self.jitter * (2.0 * random() - 1.0)
        state.upcoming_sleep = max(0.0, seconds)
        if self._stop is not None:
            if self._stop(state):
                return None
        elif attempt >= self.max_attempts:
            return None
        return timedelta(seconds=state.upcoming_sleep)

    def _waiter(self) -> _WaitFn:
        if self._wait is not None:
            return self._wait
        return tenacity.wait_exponential(
            multiplier=self.initial_interval.total_seconds(),
            exp_base=self.backoff_coefficient,
            max=self.max_interval.total_seconds(),
        )

    def is_retryable(self, exc: BaseException | str) -> bool:
        """Whether a failure may be retried (attempts permitting).

        `False` when the exception's type, or any base class of it, is in `non_retryable`; for a
        qualified name (`"mypkg.PaymentDeclined"`), when that exact name is. A `from_tenacity`
        policy's `retry=` predicate is consulted for exception objects only.
        """
        if isinstance(exc, str):
            return exc not in self.non_retryable
        names = {qualified_name(cls) for cls in type(exc).__mro__ if issubclass(cls, BaseException)}
        if not names.isdisjoint(self.non_retryable):
            return False
        if self._retry is None:
            return True
        state = _call_state(1)
        state.outcome = tenacity.Future.construct(1, exc, has_exception=True)
        return bool(self._retry(state))

    def to_json(self) -> dict[str, object]:
        """The policy as JSON data: durations as float seconds, `non_retryable` as names."""
        if self._stop is not None or self._wait is not None or self._retry is not None:
            raise ConfigurationError(_NOT_STORABLE)
        return {
            "max_attempts": self.max_attempts,
            "initial_interval": self.initial_interval.total_seconds(),
            "backoff_coefficient": self.backoff_coefficient,
            "max_interval": self.max_interval.total_seconds(),
            "jitter": self.jitter,
            "non_retryable": list(self.non_retryable),
            "timeout": None if self.timeout is None else self.timeout.total_seconds(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> RetryPolicy:
        """The policy `to_json` produced; missing keys take their defaults."""
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"RetryPolicy.from_json({data!r}): must be a JSON object")
        known = {f.name for f in fields(cls) if not f.name.startswith("_")}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigurationError(
                f"RetryPolicy.from_json: unknown keys {unknown}; allowed: {sorted(known)}"
            )
        kwargs: dict[str, Any] = dict(data)
        return cls(**kwargs)
