"""samples/retries_and_heartbeats.py with the testing kit: backoffs and a resumed import."""

from __future__ import annotations

import pytest

import durable
from durable.testing import Environment
from samples.retries_and_heartbeats import app, fetch_rate, import_rows, nightly_import

pytestmark = pytest.mark.durable_app(app)


async def test_the_rate_is_fetched_on_the_third_attempt(durable_env: Environment) -> None:
    durable_env.mock_activity(import_rows, returns="imported")
    assert await durable_env.run(nightly_import, 10) == {"rate": 1.08, "import": "imported"}
    assert len(durable_env.calls(fetch_rate)) == 3


async def test_a_bad_currency_is_not_retried(durable_env: Environment) -> None:
    durable_env.mock_activity(fetch_rate, raises=ValueError("no such currency"))
    with pytest.raises(durable.OrchestrationFailed, match="no such currency"):
        await durable_env.run(nightly_import, 10)
    assert len(durable_env.calls(fetch_rate)) == 1  # ValueError is non-retryable


async def test_the_hung_import_resumes_from_its_last_heartbeat(durable_env: Environment) -> None:
    result = await durable_env.run(nightly_import, 8)  # the real activities: about 0.4 s
    assert result["import"] == "8 rows imported in 2 attempts, the last from row 6"
