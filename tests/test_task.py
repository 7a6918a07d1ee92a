"""Tests of _core.task: the task state machine and the composites, without an interpreter."""

from __future__ import annotations

from typing import Any

import pytest

from durable._core.task import Task, WhenAll, WhenAny, WithTimeout
from durable._errors import Cancelled, DurableError, TaskTimeout


def finished(value: Any) -> Task[Any]:
    task: Task[Any] = Task()
    task.complete(value)
    return task


def broken(error: BaseException) -> Task[Any]:
    task: Task[Any] = Task()
    task.fail(error)
    return task


# -- Task -----------------------------------------------------------------------------------------


def test_a_task_is_pending_until_completed() -> None:
    task: Task[int] = Task()
    assert not task.is_done and not task.is_failed and task.exception() is None
    with pytest.raises(DurableError, match="has not finished yet: yield it first"):
        task.result()
    task.complete(3)
    assert task.is_done and not task.is_failed and task.result() == 3


def test_the_first_outcome_wins() -> None:
    task: Task[int] = Task()
    task.complete(1)
    task.complete(2)
    task.fail(ValueError("late"))
    assert task.result() == 1 and task.exception() is None
    error = ValueError("first")
    failing: Task[int] = broken(error)
    failing.complete(5)
    assert failing.is_failed and failing.exception() is error
    with pytest.raises(ValueError, match="first"):
        failing.result()


def test_listeners_run_once_when_the_task_finishes_or_at_once_if_it_has() -> None:
    task: Task[int] = Task()
    calls: list[Any] = []
    task.subscribe(calls.append)
    task.subscribe(lambda t: calls.append(t.result()))
    task.complete(7)
    task.complete(8)
    assert calls == [task, 7]
    task.subscribe(calls.append)
    assert calls == [task, 7, task]


def test_yield_from_a_task_yields_it_and_returns_what_is_sent() -> None:
    task: Task[int] = Task()

    def orchestrator() -> Any:
        value = yield from task
        return value * 2

    gen = orchestrator()
    assert gen.send(None) is task
    with pytest.raises(StopIteration) as stop:
        gen.send(21)
    assert stop.value.value == 42


def test_a_pending_leaf_is_its_own_pending_leaf() -> None:
    task: Task[int] = Task()
    assert list(task.pending_leaves()) == [task]
    task.complete(1)
    assert list(task.pending_leaves()) == []


# -- WhenAll --------------------------------------------------------------------------------------


def test_when_all_gives_results_in_the_order_given() -> None:
    a, b, c = Task[Any](), Task[Any](), Task[Any]()
    both = WhenAll([a, b, c])
    c.complete("c")
    a.complete("a")
    assert not both.is_done
    b.complete("b")
    assert both.result() == ["a", "b", "c"]


def test_when_all_of_nothing_is_done_with_an_empty_list() -> None:
    assert WhenAll([]).result() == []


def test_when_all_fails_with_the_first_failure_in_time() -> None:
    a, b = Task[Any](), Task[Any]()
    both = WhenAll([a, b])
    b.fail(KeyError("b"))
    a.fail(ValueError("a"))
    assert isinstance(both.exception(), KeyError)


def test_when_all_of_finished_tasks_is_done_at_once() -> None:
    assert WhenAll([finished(1), finished(2)]).result() == [1, 2]
    assert isinstance(WhenAll([finished(1), broken(ValueError())]).exception(), ValueError)


def test_composites_take_tasks_only() -> None:
    with pytest.raises(TypeError, match=r"expected Task objects, got int \(42\)"):
        WhenAll([finished(1), 42])  # type: ignore[list-item]


def test_composites_list_their_pending_leaves_until_done() -> None:
    a, b, c = Task[Any](), Task[Any](), Task[Any]()
    outer = WhenAll([WhenAny([a, b]), c])
    assert list(outer.pending_leaves()) == [a, b, c]
    b.complete(1)
    assert list(outer.pending_leaves()) == [c]
    c.complete(2)
    assert list(outer.pending_leaves()) == []


def test_pending_leaves_stop_as_soon_as_the_composite_finishes() -> None:
    a, b = Task[Any](), Task[Any]()
    either = WhenAny([a, b])
    seen = []
    for leaf in either.pending_leaves():
        seen.append(leaf)
        leaf.complete("first")  # as a buffered event delivered to the first wait would
    assert seen == [a] and either.result() is a and not b.is_done


# -- WhenAny --------------------------------------------------------------------------------------


def test_when_any_is_the_first_task_to_finish_even_a_failed_one() -> None:
    a, b = Task[Any](), Task[Any]()
    first = WhenAny([a, b])
    b.fail(ValueError("b"))
    a.complete("a")
    assert first.result() is b
    with pytest.raises(ValueError):
        first.result().result()


def test_when_any_of_finished_tasks_picks_the_earliest() -> None:
    a, b = Task[Any](), Task[Any]()
    b.complete("b")
    a.complete("a")
    assert WhenAny([a, b]).result() is b


def test_when_any_needs_a_task() -> None:
    with pytest.raises(ValueError, match="at least one task"):
        WhenAny([])


# -- WithTimeout ----------------------------------------------------------------------------------


def test_with_timeout_gives_the_inner_result() -> None:
    inner, timer = Task[Any](), Task[Any]()
    timed = WithTimeout(inner, timer, "waiting")
    inner.complete(5)
    timer.complete(None)
    assert timed.result() == 5


def test_with_timeout_passes_on_the_inner_failure() -> None:
    inner, timer = Task[Any](), Task[Any]()
    timed = WithTimeout(inner, timer, "waiting")
    inner.fail(ValueError("inner"))
    assert isinstance(timed.exception(), ValueError)


def test_with_timeout_times_out_when_the_timer_finishes_first() -> None:
    inner, timer = Task[Any](), Task[Any]()
    timed = WithTimeout(inner, timer, "waiting")
    timer.complete(None)
    inner.complete(5)
    with pytest.raises(TaskTimeout, match="waiting timed out"):
        timed.result()


def test_with_timeout_is_cancelled_not_timed_out_when_its_timer_is_cancelled() -> None:
    inner, timer = Task[Any](), Task[Any]()
    timed = WithTimeout(inner, timer, "waiting")
    timer.fail(Cancelled("stop"))
    assert isinstance(timed.exception(), Cancelled)
