"""The crash tests' fault points around an episode's commit (see ``durable._faults``)."""

from __future__ import annotations

from .. import _actions as act
from .. import _faults as faults
from .episodes import Decided


def before_commit(decided: Decided) -> None:
    """The crash tests' fault points before an episode's commit (``durable._faults``)."""
    if not faults.ARMED:
        return
    faults.reached("episode_before_commit")
    kinds = {event.kind for event in decided.commit.events}
    actions = {type(action) for action in decided.commit.actions}
    if "TimerFired" in kinds:
        faults.reached("timer_fire_commit")
    if "EventRaised" in kinds:
        faults.reached("event_raise_commit")
    if act.ContinueAsNew in actions:
        faults.reached("continue_as_new_commit")
    if act.StartChild in actions:
        faults.reached("child_start_commit")
