"""The rows history events are stored as: ``dump_event`` writes, field by field, exactly the text
of the general encoder (``dump_json(event_to_dict(event))``), for every kind of event."""

from __future__ import annotations

import dataclasses
import typing
from datetime import UTC, datetime, timedelta, timezone

import pytest

from durable._events import EVENT_TYPES, ActivityScheduled, ErrorInfo, HistoryEvent, event_to_dict
from durable.stores.rows import dump_event, dump_json, load_event

#: text JSON escapes, text it must not (ensure_ascii=False), and a lone surrogate
ODD_TEXT = '{"a": "\\u00e9"} é \u2028 \x00 \x1f \x7f \t\n / \\ " 💥 \ud800'


def sample(cls: type[HistoryEvent], text: str, moment: datetime) -> HistoryEvent:
    """An event of ``cls`` with a value of each field's type (None where it may be None)."""
    hints = typing.get_type_hints(cls)
    values: dict[str, object] = {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if hint is int:
            values[field.name] = 7
        elif hint is str:
            values[field.name] = text
        elif hint is datetime:
            values[field.name] = moment
        elif hint is ErrorInfo:
            values[field.name] = ErrorInfo("ValueError", text, "tb")
        elif typing.get_origin(hint) is tuple:
            values[field.name] = (text, "b")
        else:  # an optional value
            values[field.name] = None
    return cls(**values)  # type: ignore[arg-type]


MOMENTS = [
    datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=UTC),
    datetime(2026, 12, 6, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
    datetime(2020, 1, 1),  # naive: stored as given
]


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
@pytest.mark.parametrize("text", ["plain", "", ODD_TEXT])
def test_an_event_row_is_the_general_encoders_text(kind: str, text: str) -> None:
    for moment in MOMENTS:
        event = sample(EVENT_TYPES[kind], text, moment)
        assert dump_event(event) == dump_json(event_to_dict(event))


def test_values_of_other_types_take_the_general_path() -> None:
    # a bool or float where an int is declared, a subclass of str: written as json writes them
    class Name(str):
        pass

    odd = ActivityScheduled(seq=True, task_id=1.5, name=Name("n"), input="[]")  # type: ignore[arg-type]
    assert dump_event(odd) == dump_json(event_to_dict(odd))
    assert load_event(dump_event(odd)).seq is True
