"""The pytest plugin, as a user's project meets it: loaded by the ``pytest11`` entry point, in a
directory of its own, under pytest-asyncio's strict and auto modes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SHOP = """
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import durable

app = durable.App()


@app.activity
async def charge(order_id: str) -> str:
    return f"receipt-{order_id}"


@app.orchestrator
def checkout(ctx: durable.OrchestrationContext, order_id: str) -> Generator[Any, Any, str]:
    receipt = yield ctx.call_activity(charge, order_id)
    yield ctx.sleep(timedelta(days=30))
    return receipt
"""

TESTS = """
import pytest

from shop import app, charge, checkout

{mark}
@pytest.mark.durable_app(app)
async def test_by_marker(durable_env):
    assert await durable_env.run(checkout, "o-1") == "receipt-o-1"


@pytest.fixture
def durable_app():
    return app

{mark}
async def test_by_fixture(durable_env):
    durable_env.mock_activity(charge, returns="fake")
    assert await durable_env.run(checkout, "o-2") == "fake"

{mark}
@pytest.mark.durable_app(app, auto_skip=False)
async def test_with_options(durable_env):
    assert durable_env.auto_skip is False
"""


def _pytest(tmp_path: Path, mode: str, mark: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "shop.py").write_text(SHOP)
    (tmp_path / "test_shop.py").write_text(TESTS.format(mark=mark))
    (tmp_path / "pytest.ini").write_text(
        f"[pytest]\nasyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"
        "addopts = --strict-markers\nfilterwarnings = error\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("mode", "mark"), [("strict", "@pytest.mark.asyncio"), ("auto", "")], ids=["strict", "auto"]
)
def test_the_fixture_in_a_users_project(tmp_path: Path, mode: str, mark: str) -> None:
    done = _pytest(tmp_path, mode, mark)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_a_missing_app_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "test_none.py").write_text("async def test_it(durable_env):\n    pass\n")
    done = _pytest(tmp_path, "auto", "")
    assert done.returncode != 0
    assert "durable_env needs an app" in done.stdout + done.stderr
    assert "1 error" in done.stdout and "3 passed" in done.stdout
