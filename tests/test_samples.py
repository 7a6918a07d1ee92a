"""Every program in samples/ runs end to end and prints what the docs say it prints.

The docs include the samples verbatim (pymdownx.snippets), so this keeps the docs' code running.
Each sample runs in a fresh process, in a temporary directory, with warnings as errors.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

#: the last line each sample prints on stdout
FINAL_LINE = {
    "bank.py": "bob: 5000",
    "checkout.py": "13 ExecutionCompleted",
    "control.py": "terminate: TERMINATED (fraud)",
    "cpu_bound.py": "stopped: TimeoutError",
    "fan_out.py": "result: {'pages': 20, 'words': 370}",
    "failover.py": "clip-2: transcribed on a GPU",
    "human_approval.py": "escalated: director said True",
    "llm_stream.py": (
        "the last tokens with their offsets: [(9, \"'why\"), (10, \"streams?'\"), (11, 'in'), "
        "(12, 'order')]"
    ),
    "llm_queue.py": "at most 2 calls at once",
    "monitor.py": "result: build-8 still running after 2 checks: gave up",
    "rewind.py": "runs: ['charge o-1', 'pack o-1']",
    "nightly_report.py": "reports: 4",
    "retries_and_heartbeats.py": (
        "result: {'rate': 1.08, 'import': '10 rows imported in 2 attempts, the last from row 6'}"
    ),
    "saga.py": (
        "lisbon: {'booked': False, 'reason': 'no cars left in lisbon', "
        "'cancelled': ['hotel-lisbon', 'flight-lisbon']}"
    ),
    "shopping_cart.py": "result: paid 750 cents for 2 item(s)",
    "sub_orchestrations.py": (
        "result: {'lyon': 'track-label-lyon-2', 'oslo': 'track-label-oslo-1', "
        "'reykjavik': 'not shipped (durable.ActivityFailed)'}"
    ),
    "typed_payloads.py": (
        "result: Invoice(order_id='o-7', total=Decimal('23.99'), "
        "due=datetime.datetime(2024, 5, 31, 9, 30, tzinfo=datetime.timezone.utc))"
    ),
    "versioning.py": "order-c, started by v2: fraud-checked, receipt-c",
    "webhook_approval.py": "order o-1 approved by alice",
}


def test_every_sample_has_an_expected_final_line() -> None:
    assert sorted(path.name for path in SAMPLES.glob("*.py")) == sorted(FINAL_LINE)


@pytest.mark.parametrize("name", sorted(FINAL_LINE))
def test_sample_runs(name: str, tmp_path: Path) -> None:
    paths = [str(SAMPLES.parent), os.environ.get("PYTHONPATH", "")]  # durable from this checkout
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in paths if path)}
    done = subprocess.run(
        [sys.executable, "-W", "error", str(SAMPLES / name)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stderr}"
    lines = done.stdout.strip().splitlines()
    assert lines, f"{name} printed nothing; stderr:\n{done.stderr}"
    assert lines[-1].strip() == FINAL_LINE[name], done.stdout
    assert "Traceback" not in done.stderr, done.stderr
