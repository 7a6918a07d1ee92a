"""How a worker rides out a failing store: back off exponentially with jitter, and say so once.

Each store call of the worker's loops goes through ``Worker._guarded``: a ``StoreError`` is
never fatal. Before, every failure logged an ERROR and waited a fixed poll interval (49 lines
in 10 s on a full disk). Now the first failure (and each change of its message) is logged at
ERROR, the retries back off (tenacity's ``wait_exponential_jitter``, from the poll interval up
to ``MAX_BACKOFF``), and the first success after failures logs that the store is back.
"""

from __future__ import annotations

import logging

import tenacity

logger = logging.getLogger("durable.worker")

#: the longest wait between retries of a failing store
MAX_BACKOFF = 30.0


class StoreHealth:
    """The state of the worker's store calls: healthy, or failing since some calls."""

    def __init__(self, first_wait: float, max_wait: float = MAX_BACKOFF) -> None:
        # jitter on top of the cap too, so that workers failing together do not retry together
        self._wait = tenacity.wait_exponential(
            multiplier=first_wait, max=max_wait
        ) + tenacity.wait_random(0, 2 * first_wait)
        self.failures = 0
        self._reported: str | None = None

    def failed(self, exc: BaseException) -> float:
        """Count a failure (logging it if it is news); how long to wait before going on."""
        self.failures += 1
        message = str(exc)
        if message != self._reported:
            self._reported = message
            logger.error(
                "store error (retrying with backoff; logged again only if it changes): %s",
                message,
            )
        state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = self.failures
        return float(self._wait(state))

    def succeeded(self) -> None:
        """A call went through: report the recovery once."""
        if self.failures:
            logger.warning("store is back after %d failed call(s)", self.failures)
            self.failures = 0
            self._reported = None
