"""One wording per event and action kind (``durable._core.wording``): the dashboard's graph
labels and ``durable rewind --dry-run``'s lines read from it, so no kind is left to a default."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from durable import _actions as act
from durable import _events as ev
from durable._core import wording

AT = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def _action_kinds() -> set[type[act.Action]]:
    return {
        cls
        for cls in vars(act).values()
        if isinstance(cls, type) and issubclass(cls, act.Action) and cls is not act.Action
    }


def test_every_event_kind_has_a_wording() -> None:
    missing = sorted(name for name, cls in ev.EVENT_TYPES.items() if cls not in wording.EVENTS)
    assert not missing, f"event kinds without a wording in durable/_core/wording.py: {missing}"
    assert set(wording.EVENTS) == set(ev.EVENT_TYPES.values())  # and no kind that is not one


def test_every_action_kind_has_a_dry_run_line() -> None:
    missing = sorted(cls.__name__ for cls in _action_kinds() - set(wording.ACTIONS))
    assert not missing, f"action kinds without a wording in durable/_core/wording.py: {missing}"


@pytest.mark.parametrize(
    ("event", "label"),
    [
        (ev.ActivityScheduled(task_id=1, name="charge", input="[]"), "charge"),
        (ev.TimerCreated(task_id=2, fire_at=AT), "sleep until 2026-01-02T03:04:05+00:00"),
        (ev.EventSent(task_id=3, instance_id="i-2", name="go", payload="1"), "send go to i-2"),
        (
            ev.EntitySignaled(
                task_id=4, entity_name="Counter", entity_key="c", operation="add", arg="1"
            ),
            "Counter@c.add",
        ),
        (ev.EntityLockRequested(task_id=5, entities=("@A@a", "@B@b")), "lock @A@a, @B@b"),
        (ev.EntityUnlockSent(task_id=6, lock_task_id=5), "unlock (lock 5)"),
        (ev.NowRecorded(task_id=7, value=AT), "now"),
        (ev.UpdateResponded(task_id=8, update_id="u", name="rename"), "respond to update rename"),
        (
            ev.UpdateResponded(task_id=8, update_id="u", name="rename", rejection="no"),
            "reject update rename",
        ),
        (ev.StreamWritten(task_id=9, key="progress", payload="1"), "write to stream progress"),
        (ev.ExecutionCompleted(output="1"), "ExecutionCompleted"),
    ],
)
def test_the_graph_labels(event: ev.HistoryEvent, label: str) -> None:
    assert wording.label(event) == label


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (ev.ExecutionRewound(seq=9, cut=4), "set aside history events 4..8 (the failure)"),
        (
            ev.ActivityCompleted(task_id=2, result="1"),
            "record ActivityCompleted of effect #2 again (it is not run again)",
        ),
        (ev.TimerFired(task_id=3), "record TimerFired of effect #3 again (it is not run again)"),
        (ev.EventRaised(name="approve", payload="true"), "record event 'approve' again"),
        (ev.ExecutionCompleted(output="1"), "record ExecutionCompleted"),
    ],
)
def test_the_dry_run_lines_of_events(event: ev.HistoryEvent, line: str) -> None:
    assert wording.recorded(event) == line


def test_the_dry_run_lines_of_actions() -> None:
    error = ev.ErrorInfo("ValueError", "bad")
    assert wording.doing(act.ScheduleActivity(1, "charge", "[]", act.ActivityOptions())) == (
        "run activity 'charge' again (effect #1)"
    )
    assert wording.doing(act.StartTimer(task_id=2, fire_at=AT)) == (
        f"start timer #2 due {AT.isoformat()}"
    )
    assert wording.doing(act.Fail(error)) == "fail again: ValueError: bad"
    assert wording.doing(act.Complete("42")) == "complete with 42"
    assert wording.doing(act.MarkCanceled("stop")) == "end canceled: stop"


def test_every_wording_reads_an_instance_of_its_kind() -> None:
    """Each wording runs on an event of its kind built from placeholder values (a wording that
    reads a field the kind does not have fails here, not on a page)."""
    for cls, words in wording.EVENTS.items():
        event = cls(**_placeholders(cls))
        assert words.label(event) and words.recorded(event)
    for action_cls, line in wording.ACTIONS.items():
        assert line(action_cls(**_placeholders(action_cls)))


def _placeholders(cls: type) -> dict[str, object]:
    values: dict[str, object] = {}
    for field in dataclasses.fields(cls):
        if field.default is not dataclasses.MISSING or field.name in ("seq", "timestamp"):
            continue
        if field.default_factory is not dataclasses.MISSING:
            continue
        hint = str(field.type)
        if "datetime" in hint:
            values[field.name] = AT
        elif hint.startswith("int"):
            values[field.name] = 1
        elif "ErrorInfo" in hint:
            values[field.name] = ev.ErrorInfo("E", "m")
        elif "HistoryEvent" in hint:
            values[field.name] = ev.EventRaised(name="e", payload="1")
        elif "tuple" in hint:
            values[field.name] = ("a",)
        elif "ActivityOptions" in hint:
            values[field.name] = act.ActivityOptions()
        else:
            values[field.name] = "x"
    return values
