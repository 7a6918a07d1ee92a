"""Tests of durable._core.run_state: what the interpreter tracks for one run."""

from __future__ import annotations

from datetime import UTC, datetime

from durable import _actions as act
from durable import _events as ev
from durable._core.run_state import RunState
from durable._core.task import EffectTask, EventWait

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def timer(run: RunState) -> EffectTask[None]:
    task_id = run.take_task_id()
    task: EffectTask[None] = EffectTask(
        ev.TimerCreated(task_id=task_id, fire_at=T0), act.StartTimer(task_id, T0), None, None
    )
    task.on_cancel = act.CancelTimer(task_id)
    run.add_effect(task)
    return task


def test_effects_wait_for_confirmation_while_replaying_and_are_created_when_live() -> None:
    run = RunState("i", "n", T0)
    first = timer(run)
    assert run.unconfirmed == {0: first} and run.created == []
    run.replaying = False
    second = timer(run)
    assert run.created == [second] and list(run.unconfirmed) == [0]


def test_a_closing_run_gives_the_task_id_back_and_keeps_no_wait() -> None:
    run = RunState("i", "n", T0, replaying=False)
    run.closing = True
    timer(run)
    run.add_wait(EventWait("x"))
    assert (run.next_task_id, run.created, run.waiters) == (0, [], {})


def test_withdrawing_a_timer_finishes_it_once_and_cancels_it_only_when_live() -> None:
    run = RunState("i", "n", T0)
    replayed = timer(run)
    run.withdraw_timer(replayed)
    assert replayed.is_done and run.emitted_actions == []
    run.replaying = False
    live = timer(run)
    run.withdraw_timer(live)
    run.withdraw_timer(live)  # already finished: nothing more
    assert run.emitted_actions == [act.CancelTimer(1)]


def test_an_abandoned_wait_leaves_the_others() -> None:
    run = RunState("i", "n", T0)
    first, second = EventWait("x"), EventWait("x")
    run.add_wait(first)
    run.add_wait(second)
    run.abandon(first)
    run.abandon(first)
    assert run.waiters == {"x": [second]}


def test_patches_the_history_holds_replay_true_and_new_ones_are_recorded_live_only() -> None:
    run = RunState("i", "n", T0, patches=["old"])
    assert run.patched("old") is True
    assert run.patched("new") is False  # replaying a history from before the change
    run.replaying = False
    assert run.patched("new") is True and run.patched("new") is True
    assert run.take_new() == (["new"], [], [])
    assert run.take_new() == ([], [], [])
