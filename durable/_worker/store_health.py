"""How a worker rides out a failing store: back off exponentially with jitter, and say so once.

Each store call of the worker's loops goes through ``Worker._guarded``: a ``StoreError`` is
never fatal. Before, every failure logged an ERROR and waited a fixed poll interval (49 lines
in 10 s on a full disk). Now the first failure (and each change of its message) is logged at
ERROR, the retries back off (tenacity's ``wait_exponential_jitter``, from the poll interval up
to ``MAX_BACKOFF``), and the first success after failures logs that the store is back.

A store can fail some calls and serve others (a full disk refuses writes but answers reads and
claims that find nothing): the worker's loops share one state, so a success right after a
failure must not reset it, or the back-off starts over and each flip logs two lines (about 8
lines a second on a full disk, seen in F4). A streak ends only once a retry had time to fail
and did not (so the next outage backs off from the start again, and a restarted database is
back within a second), the recovery is logged once no call failed for ``settle`` seconds (the
longest back-off), and a failure is news only when its cause (the driver's error, not which
call met it) changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import tenacity

from .._errors import StoreError

logger = logging.getLogger("durable.worker")

#: the longest wait between retries of a failing store
MAX_BACKOFF = 30.0


class StoreHealth:
    """The state of the worker's store calls: healthy, or failing since some calls."""

    def __init__(
        self,
        first_wait: float,
        max_wait: float = MAX_BACKOFF,
        *,
        settle: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # jitter on top of the cap too, so that workers failing together do not retry together
        self._wait = tenacity.wait_exponential(
            multiplier=first_wait, max=max_wait
        ) + tenacity.wait_random(0, 2 * first_wait)
        self._first_wait = first_wait
        #: the failures of the current streak: the back-off grows with them
        self.failures = 0
        #: the failures since the store was last reported back
        self._unreported = 0
        self._reported: str | None = None
        self._settle = max_wait if settle is None else settle
        self._clock = clock
        self._last_failure = 0.0
        self._last_wait = 0.0

    def failed(self, exc: BaseException) -> float:
        """Count a failure (logging it if it is news); how long to wait before going on."""
        self.failures += 1
        self._unreported += 1
        self._last_failure = self._clock()
        cause = exc.__cause__
        key = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
        if key != self._reported:
            self._reported = key
            logger.error(
                "store error (retrying with backoff; logged again only if it changes): %s",
                exc,
            )
        state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = self.failures
        self._last_wait = float(self._wait(state))
        return self._last_wait

    def succeeded(self) -> None:
        """A call went through. The streak ends once a retry had its time to fail and did not
        (a success of another call meanwhile proves nothing); the recovery is reported once no
        call failed for ``settle`` seconds."""
        if not self._unreported:
            return
        quiet = self._clock() - self._last_failure
        if quiet >= 2 * self._last_wait + self._first_wait:
            self.failures = 0
        if quiet >= self._settle:
            logger.warning("store is back after %d failed call(s)", self._unreported)
            self.failures = self._unreported = 0
            self._reported = None


#: how often one cause of store failure met by episode commits is logged at ERROR again
STORE_ERROR_EVERY = 30.0


class HeldReports:
    """Which errors of held instances were logged at ERROR: each instance's error once (its
    retries repeat it), and a store failure (a full disk meets every instance's commit) once
    per cause per ``STORE_ERROR_EVERY`` seconds, whichever instance met it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._reported: set[tuple[str, str]] = set()
        self._store_errors: dict[str, float] = {}
        self._clock = clock

    def news(self, instance_id: str, exc: Exception) -> bool:
        """Whether to log ``exc``, met by ``instance_id``, at ERROR (else at DEBUG)."""
        if not isinstance(exc, StoreError):
            report = (instance_id, str(exc))
            news = report not in self._reported
            self._reported.add(report)
            return news
        cause = exc.__cause__
        key = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
        now = self._clock()
        if now - self._store_errors.get(key, -STORE_ERROR_EVERY) < STORE_ERROR_EVERY:
            return False
        self._store_errors[key] = now
        return True
