"""An attempt's token is made on first use (most attempts never ask for it): it must still be
one token per attempt, whoever asks first, and the one ``activity_info()`` shows."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from durable._serde import DEFAULT_SERIALIZER
from durable._worker.attempts import AttemptRunner
from durable._worker.handoff import EXTERNAL, Token
from durable.stores.base import ActivityWorkItem


def _item(details: str | None = None) -> ActivityWorkItem:
    return ActivityWorkItem(
        id=7,
        instance_id="order-1",
        execution_id=2,
        task_id=3,
        name="charge",
        input='{"args":[],"kwargs":{}}',
        queue="default",
        attempt=4,
        retry=None,
        timeout=None,
        heartbeat_timeout=None,
        heartbeat_details=details,
        scheduled_at=datetime(2026, 1, 1, tzinfo=UTC),
        worker_id="w1",
    )


def test_one_token_per_attempt_even_when_threads_race_for_it() -> None:
    attempt = AttemptRunner(DEFAULT_SERIALIZER, threads=4).start(_item())
    seen: list[str] = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        seen.append(attempt.info.token)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(seen) == 8 and len(set(seen)) == 1
    assert attempt.token.encode() == seen[0]
    assert attempt.token.owner == EXTERNAL + attempt.token.nonce


def test_the_info_names_the_attempt_its_token_and_its_last_details() -> None:
    attempt = AttemptRunner(DEFAULT_SERIALIZER, threads=1).start(_item('{"done": 3}'))
    info = attempt.info
    assert (info.instance_id, info.activity_name, info.task_id, info.attempt) == (
        "order-1",
        "charge",
        3,
        4,
    )
    assert info.heartbeat_details == {"done": 3}
    parts = Token.decode(info.token)
    assert (parts.instance_id, parts.execution_id, parts.task_id, parts.activity_id) == (
        "order-1",
        2,
        3,
        7,
    )
    assert parts.attempt == 4 and parts == attempt.token
    assert attempt.info is info  # made once


def test_two_attempts_get_two_nonces() -> None:
    runner = AttemptRunner(DEFAULT_SERIALIZER, threads=1)
    first, second = runner.start(_item()), runner.start(_item())
    assert first.token.nonce != second.token.nonce
