"""Tests of durable._core.frames: the one helper that finds the user's file:line."""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import durable
from durable._core import frames
from durable._core.context import OrchestrationContext
from durable._core.registry import App
from durable._core.run_state import RunState
from durable._core.task import EffectTask, Task

PACKAGE = Path(durable.__file__).parent
HERE = Path(__file__)


def line_of(marker: str) -> int:
    """The line number in this file of the line ending with ``# <marker>``."""
    for number, line in enumerate(HERE.read_text().splitlines(), start=1):
        if line.rstrip().endswith(f"# {marker}"):
            return number
    raise AssertionError(marker)


def test_code_inside_the_package_is_durables_and_a_neighbour_folder_is_not() -> None:
    inside = compile("pass", str(PACKAGE / "_core" / "context.py"), "exec")
    neighbour = compile("pass", str(PACKAGE.parent / "durable_app" / "flows.py"), "exec")
    assert not frames.is_users(inside)
    assert frames.is_users(neighbour)
    assert frames.is_users(
        test_code_inside_the_package_is_durables_and_a_neighbour_folder_is_not.__code__
    )


def test_the_caller_location_skips_durables_own_frames() -> None:
    assert frames.caller_location() == (str(HERE), line_of("direct"))  # direct
    # called inside durable (ctx.sleep -> ctx._timer -> ctx._effect): the line that called ctx
    ctx = OrchestrationContext(App(), RunState("i", "n", datetime(2026, 1, 1, tzinfo=UTC)))
    timer = ctx.sleep(1)  # via-ctx
    assert isinstance(timer, EffectTask)
    assert timer.location == (str(HERE), line_of("via-ctx"))


def helper() -> Generator[Any, Any, int]:
    value = yield "inner"  # helper-yield
    return int(value)


def outer() -> Generator[Any, Any, int]:
    result = yield from helper()
    return result


def waits_on_a_task(task: Task[int]) -> Generator[Any, Any, int]:
    value = yield from task  # yield-from-task
    return value


def test_a_suspended_generator_is_located_in_its_innermost_helper() -> None:
    gen = outer()
    next(gen)
    assert frames.suspended_location(gen) == (str(HERE), line_of("helper-yield"))


def test_a_generator_suspended_inside_durable_is_located_at_the_users_yield() -> None:
    gen = waits_on_a_task(Task[int]())
    next(gen)  # suspended in Task.__iter__, which is durable's
    assert frames.suspended_location(gen) == (str(HERE), line_of("yield-from-task"))


def test_a_finished_generator_has_no_location() -> None:
    gen = outer()
    next(gen)
    with pytest.raises(StopIteration):
        gen.send("3")
    assert frames.suspended_location(gen) is None
