"""Rewind in the pure interpreter: where a failed run is cut, what runs again, and that the
rewound history replays to the same state (no store, no loop)."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import pytest

import durable
from durable import _actions as act
from durable import _events as ev
from durable._core import rewind
from durable._core.interpreter import Orchestration
from durable._status import Status

from .interpreter_kit import T0, done, failed, kinds, started

app = durable.App()


@app.activity
def step(name: str) -> str:
    return name


def _call(ctx: durable.OrchestrationContext, name: str) -> durable.Task[Any]:
    return ctx.call_activity(step, name)


@app.orchestrator
def compensating(ctx: durable.OrchestrationContext) -> Generator[Any, Any, str]:
    yield _call(ctx, "a")
    try:
        yield _call(ctx, "b")
    except durable.ActivityFailed:
        yield _call(ctx, "undo-a")
        raise
    return "done"


@app.orchestrator
def collecting(ctx: durable.OrchestrationContext) -> Generator[Any, Any, list[str]]:
    tasks = [_call(ctx, name) for name in ("x", "y", "z")]
    results, errors = [], []
    for task in tasks:
        try:
            results.append((yield task))
        except durable.ActivityFailed as exc:
            errors.append(exc.message)
    if errors:
        raise RuntimeError(f"{len(errors)} failed")
    return results


@app.orchestrator
def falling_back(ctx: durable.OrchestrationContext) -> Generator[Any, Any, str]:
    try:
        first = yield _call(ctx, "primary")
    except durable.ActivityFailed:
        first = yield _call(ctx, "fallback")
    second = yield _call(ctx, "next")
    return f"{first}+{second}"


FLAGS = {"fixed": False}


@app.orchestrator
def raising(ctx: durable.OrchestrationContext) -> Generator[Any, Any, str]:
    value = yield _call(ctx, "a")
    if not FLAGS["fixed"]:
        raise ValueError("a bug")
    more = yield _call(ctx, "b")
    return f"{value}{more}"


class Run:
    """An instance driven episode by episode, each decided from a replay of its history."""

    def __init__(self, orchestrator: Any) -> None:
        self.history: list[ev.HistoryEvent] = []
        self.last = self.apply([started(app, orchestrator)])

    def apply(self, messages: Sequence[ev.HistoryEvent]) -> Any:
        if rewind.requested(messages):
            orchestration, episode = rewind.rewind_episode(app, "i", self.history, messages, T0)
        else:
            orchestration = Orchestration(app, "i", self.history)
            episode = orchestration.apply(messages, T0)
        orchestration.close()
        self.history += episode.events
        assert [e.seq for e in self.history] == list(range(len(self.history)))
        self.last = episode
        return episode

    def rewind(self) -> Any:
        return self.apply([ev.ExecutionRewound(reason="fixed")])

    def scheduled(self) -> list[tuple[int, str]]:
        return [
            (a.task_id, app.serializer.decode(a.input)["args"][0])
            for a in self.last.actions
            if isinstance(a, act.ScheduleActivity)
        ]


def test_compensation_after_the_failure_is_set_aside_and_only_the_failure_runs_again() -> None:
    run = Run(compensating)
    run.apply([done(0, "a")])
    run.apply([failed(1)])
    assert run.scheduled() == [(2, "undo-a")]
    run.apply([done(2, "undone")])
    assert run.last.status is Status.FAILED
    rewound = run.rewind()
    assert kinds(rewound.events) == ["ExecutionRewound"]
    assert rewound.events[0].cut == 4  # the ActivityFailed of "b"
    assert run.scheduled() == [(1, "b")]  # not "a", and not the compensation
    assert run.apply([done(1, "b")]).output == '"done"'


def test_a_fan_in_that_collected_failures_runs_every_failed_one_again() -> None:
    run = Run(collecting)
    run.apply([failed(0), done(1, "y"), failed(2)])
    assert run.last.status is Status.FAILED
    run.rewind()
    assert sorted(run.scheduled()) == [(0, "x"), (2, "z")]
    rewound = run.last.events
    assert kinds(rewound) == ["ExecutionRewound", "ActivityCompleted"]  # y's result, kept
    run.apply([done(2, "z"), done(0, "x")])
    assert run.last.output == '["x","y","z"]'


def test_a_failure_the_code_moved_past_stays_and_only_the_last_runs_again() -> None:
    run = Run(falling_back)
    run.apply([failed(0)])
    run.apply([done(1, "fb")])
    run.apply([failed(2)])
    run.rewind()
    assert run.scheduled() == [(2, "next")]  # not "primary": the fallback's result stands
    assert run.apply([done(2, "n")]).output == '"fb+n"'


def test_a_run_that_raised_by_itself_is_cut_at_its_end_and_goes_on_with_fixed_code() -> None:
    FLAGS["fixed"] = False
    run = Run(raising)
    run.apply([done(0, "a")])
    assert run.last.status is Status.FAILED
    again = run.rewind()  # the same code fails the same way at once
    assert kinds(again.events) == ["ExecutionRewound", "ExecutionFailed"]
    FLAGS["fixed"] = True
    try:
        run.rewind()
        assert kinds(run.last.events) == ["ExecutionRewound", "ActivityScheduled"]
        assert run.scheduled() == [(1, "b")]
        assert run.apply([done(1, "b")]).output == '"ab"'
    finally:
        FLAGS["fixed"] = False


def test_a_rewind_of_a_run_that_is_not_failed_is_refused() -> None:
    run = Run(compensating)
    with pytest.raises(durable.DurableError, match="does not end in ExecutionFailed"):
        run.rewind()


def test_a_rewind_message_in_an_ordinary_episode_is_dropped() -> None:
    run = Run(compensating)
    episode = run.apply([done(0, "a"), ev.ExecutionRewound()])
    assert "ExecutionRewound" not in kinds(episode.events)
