"""``durable status`` off a terminal prints its table without rich: exactly what rich prints."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from durable._cli.common import show
from durable._cli.plain import off_terminal, plain_grid, status_rows
from durable._cli.render import status_table
from durable._status import InstanceStatus, Status

WHEN = datetime(2026, 12, 5, 22, 14, 7, 466_596, tzinfo=UTC)


def instance(**changes: object) -> InstanceStatus:
    fields: dict[str, object] = {
        "instance_id": "order-1",
        "name": "checkout",
        "status": Status.COMPLETED,
        "created_at": WHEN,
        "updated_at": WHEN,
        "input": {"items": [1, 2]},
        "output": None,
        "error": None,
        "custom_status": None,
        "tags": {},
    }
    fields.update(changes)
    return InstanceStatus(**fields)  # type: ignore[arg-type]


PLAIN_CASES = [
    instance(),
    instance(status=Status.FAILED, output=None, error="ValueError: no stock"),
    instance(status=Status.RUNNING, input=None, custom_status={"step": "pay"}),
    instance(tags={"tenant": "acme", "env": "prod"}, output="ok"),
    instance(instance_id="  spaced  ", name="名前", output="日本語 ✓ café"),
    instance(instance_id="[bold]x[/bold]", output=""),
    instance(status=Status.PENDING, input=None, output=None),
]
RICH_CASES = [
    instance(error="Traceback:\n  line 1"),  # two lines in one cell
    instance(name="tab\there"),  # rich expands tabs
    instance(output="x" * 20_000),  # folds past show()'s width
]


@pytest.mark.parametrize("status", PLAIN_CASES)
def test_plain_grid_prints_what_rich_prints(
    status: InstanceStatus, capsys: pytest.CaptureFixture[str]
) -> None:
    show(status_table(status))
    by_rich = capsys.readouterr().out
    plain = plain_grid(status_rows(status))
    assert plain is not None
    assert plain + "\n" == by_rich


@pytest.mark.parametrize("status", RICH_CASES)
def test_cells_rich_lays_out_are_left_to_rich(status: InstanceStatus) -> None:
    assert plain_grid(status_rows(status)) is None


def test_off_terminal_defers_to_rich_when_colour_is_forced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    assert off_terminal()  # pytest captures stdout: not a terminal
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert not off_terminal()


def test_status_loads_no_module_it_does_not_need(tmp_path: Path) -> None:
    """W11: ``durable status`` runs without pydantic (typer's coercion), tenacity, rich, the
    registry or the worker loop; each of them made a short command slower (docs/benchmarks.md)."""
    unwanted = ("pydantic", "tenacity", "rich", "durable._core.registry", "durable._worker.worker")
    code = (
        "import sys\n"
        "from durable._cli.app import main\n"
        f"sys.argv = ['durable', 'status', 'nope', '--store', 'sqlite:///{tmp_path}/s.db']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(' '.join(m for m in {unwanted!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert "instance 'nope' not found" in result.stderr
    assert result.stdout.strip() == "", f"durable status loads {result.stdout.strip()}"
