"""samples/rewind.py with the testing kit: the failed child is rewound with its parent, and
what completed does not run again."""

from __future__ import annotations

from pathlib import Path

import pytest

import durable
from durable.testing import Environment
from samples.rewind import app, checkout, runs

pytestmark = pytest.mark.durable_app(app)


async def test_rewind_after_the_fix(durable_env: Environment, tmp_path: Path) -> None:
    ledger, api_up = str(tmp_path / "ledger.txt"), tmp_path / "api-up"
    handle = await durable_env.client.start(checkout, "o-1", ledger, str(api_up), instance_id="o")
    with pytest.raises(durable.OrchestrationFailed, match="API is down"):
        await handle.result(timeout=10)
    api_up.touch()
    preview = await handle.preview_rewind()
    assert preview.children == ["o-ship"] and preview.status is durable.Status.RUNNING
    await handle.rewind()
    assert (await handle.result(timeout=10))["booking"] == "courier booked for parcel-o-1"
    assert runs(ledger) == ["charge o-1", "pack o-1"]
