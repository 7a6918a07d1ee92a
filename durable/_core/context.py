"""OrchestrationContext: the ``ctx`` an orchestrator receives; turns effects into tasks.

Each effect gets the next task id (its sequence number in yield order) and carries the history
event and the action a live run records for it. The interpreter decides what happens to them:
while replaying, the history must confirm the event; when live, the event is appended and the
action emitted. ``ctx`` shows the user only DESIGN section 2's effects and read-only facts; what
the interpreter tracks lives in its ``RunState``, which ``ctx`` keeps privately to hand new
effects to. The context holds no I/O, clock or randomness of its own.
"""

from __future__ import annotations

import logging
import random as _random
import uuid
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from .. import _actions as act
from .. import _events as ev
from .._durations import to_seconds, to_timedelta
from .._entities import EntityId, as_entity_id, check_not_entity_id
from .._errors import ConfigurationError
from .._text import check_id, check_text
from .entity_calls import CriticalSection
from .frames import caller_location
from .run_state import RunState
from .task import EffectTask, EventWait, Task, WhenAll, WhenAny, WithTimeout
from .updates import UpdateRequest, UpdateWait, check_answerable

if TYPE_CHECKING:
    from .registry import Activity, ActivityRef, App

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("durable.orchestration")


@dataclass(frozen=True, slots=True)
class ContinueAsNewRequest:
    """Returned by ``ctx.continue_as_new``; the orchestrator must ``return`` it."""

    input: str


class _ReplayAwareLogger(logging.LoggerAdapter[logging.Logger]):
    """Drops records while the orchestrator replays (so nothing is logged twice)."""

    def __init__(self, ctx: OrchestrationContext) -> None:
        super().__init__(logger, {"instance_id": ctx.instance_id})
        self._ctx = ctx

    def isEnabledFor(self, level: int) -> bool:
        return not self._ctx.is_replaying and super().isEnabledFor(level)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        kwargs["extra"] = {**self.extra, **kwargs.get("extra", {})}  # type: ignore[dict-item]
        return msg, kwargs


class OrchestrationContext:
    """The ``ctx`` passed to an orchestrator: yield its effects, call its helpers.

    Effects return a ``Task``; yielding it suspends the orchestrator until the result is
    recorded in the history. Nothing here does I/O: results come from the history on replay.
    """

    def __init__(self, app: App, run: RunState) -> None:
        self._app = app
        self._serializer = app.serializer
        self._run = run
        self._rng: _random.Random | None = None
        self._uuid_counter = 0
        self._logger: _ReplayAwareLogger | None = None
        #: the ids of the updates this run answered (each is answered once)
        self._answered: set[str] = set()

    # -- facts ---------------------------------------------------------------------------------

    @property
    def instance_id(self) -> str:
        """The id of the running instance."""
        return self._run.instance_id

    @property
    def name(self) -> str:
        """The registered name of the orchestrator."""
        return self._run.name

    @property
    def is_replaying(self) -> bool:
        """True while the code re-runs what a committed episode already ran."""
        return self._run.replaying

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger that carries the instance id and drops records while replaying."""
        if self._logger is None:
            self._logger = _ReplayAwareLogger(self)
        return self._logger

    # -- effects (yield them) ------------------------------------------------------------------

    @overload
    def call_activity(
        self,
        activity: Activity[P, R] | ActivityRef[P, R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Task[R]: ...

    @overload
    def call_activity(self, activity: str, *args: Any, **kwargs: Any) -> Task[Any]: ...

    def call_activity(self, activity: Any, *args: Any, **kwargs: Any) -> Task[Any]:
        """Run an activity (a registered function, its ``with_options`` reference or its name).

        Its result arrives decoded by the activity's return annotation; after the retry policy
        gives up, ``ActivityFailed`` is raised at the ``yield``. The keyword
        ``schedule_to_start_timeout`` (seconds or timedelta) is kept for the call itself: if no
        worker starts the activity in time, ``TaskTimeout`` is raised instead.
        """
        to_start = kwargs.pop("schedule_to_start_timeout", None)
        name, fn, options = self._app.resolve_activity(activity)
        if to_start is not None:
            options = replace(
                options,
                schedule_to_start_timeout=to_seconds(
                    to_start,
                    f"call_activity({name!r}): schedule_to_start_timeout={to_start!r}",
                    allow_zero=False,
                ),
            )
        payload = self._serializer.encode_call(fn, name, args, kwargs)
        task_id = self._run.take_task_id()
        event = ev.ActivityScheduled(task_id=task_id, name=name, input=payload)
        action = act.ScheduleActivity(task_id, name, payload, options)
        return self._effect(event, action, self._app.activity_return_hint(name))

    def call_sub_orchestrator(
        self,
        orchestrator: Callable[..., Any] | str,
        *args: Any,
        instance_id: str | None = None,
        retry: Any = None,
    ) -> Task[Any]:
        """Run another orchestration as a child and wait for its result.

        The child's id defaults to ``"<parent id>:<task id>"``; its failure raises
        ``OrchestrationFailed`` at the ``yield``.
        """
        definition = self._app.resolve_orchestrator(orchestrator)
        payload = self._serializer.encode_call(
            definition.fn, definition.name, args, {}, skip_first=True
        )
        if instance_id is not None:
            check_id(instance_id, f"call_sub_orchestrator({definition.name!r}): instance_id")
            check_not_entity_id(instance_id, "call_sub_orchestrator(instance_id)")
        task_id = self._run.take_task_id()
        child_id = instance_id or f"{self._run.instance_id}:{task_id}"
        check_id(child_id, f"call_sub_orchestrator({definition.name!r}): the child's id")
        event = ev.SubOrchestrationScheduled(
            task_id=task_id, name=definition.name, instance_id=child_id, input=payload
        )
        action = act.StartChild(task_id, definition.name, child_id, payload, retry)
        return self._effect(event, action, definition.return_hint)

    def sleep(self, duration: timedelta | float | datetime) -> Task[None]:
        """A durable timer: finishes at (or after) the due time, across restarts.

        ``duration`` is a ``timedelta``, a number of seconds, or an aware ``datetime`` to wake at.
        """
        return self._timer(self._due(duration, "ctx.sleep(duration)"))

    def now(self) -> Task[datetime]:
        """The current time (aware UTC), recorded once and identical on every replay."""
        event = ev.NowRecorded(task_id=self._run.take_task_id(), value=self._run.now)
        return self._effect(event, None, datetime)

    def wait_for_event(self, name: str, timeout: timedelta | float | None = None) -> Task[Any]:
        """The payload of the next event ``name`` (FIFO per name; buffered if it came earlier).

        With ``timeout``, ``TaskTimeout`` is raised at the ``yield`` when it passes first.
        """
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"wait_for_event(name={name!r}): name must be a non-empty str")
        check_text(name, "wait_for_event(name)")
        return self._wait(EventWait(name), timeout, f"wait_for_event({name!r})")

    def wait_for_update(
        self, name: str, timeout: timedelta | float | None = None
    ) -> Task[UpdateRequest]:
        """The next update ``name`` a client sent (``handle.update``), as an ``UpdateRequest``;
        answer it with ``ctx.respond`` or ``ctx.reject``.

        Updates sent before the wait are buffered (first in, first out per name) and carried
        over ``continue_as_new``. With ``timeout``, ``TaskTimeout`` is raised at the ``yield``
        when it passes first.
        """
        check_text(name, "wait_for_update(name)")
        return self._wait(UpdateWait(name), timeout, f"wait_for_update({name!r})")

    def _wait(self, wait: EventWait, timeout: timedelta | float | None, what: str) -> Task[Any]:
        self._run.add_wait(wait)
        if timeout is None:
            return wait
        timer = self._timer(self._due(timeout, f"{what.partition('(')[0]}(timeout)"))
        timed = WithTimeout(wait, timer, what)
        # after WithTimeout subscribed: withdrawing completes the timer, which must not time out
        run = self._run
        wait.subscribe(lambda _: run.withdraw_timer(timer))
        timer.subscribe(lambda _: run.abandon(wait))
        return timed

    def when_all(self, tasks: Iterable[Task[Any]]) -> Task[list[Any]]:
        """All results, in the order given; raises the first failure. ``when_all([])`` is ``[]``."""
        return WhenAll(list(tasks))

    def when_any(self, tasks: Iterable[Task[Any]]) -> Task[Task[Any]]:
        """The first task to finish (a ``Task``: ``winner.result()``, ``winner is t1``)."""
        return WhenAny(list(tasks))

    def call_entity(self, entity_id: EntityId, operation: str, arg: Any = None) -> Task[Any]:
        """Run ``operation`` on an entity and get its result (DESIGN 2a); an operation that
        raises raises ``EntityFailed`` at the ``yield`` (the entity's state is unchanged)."""
        entity = as_entity_id(entity_id, "call_entity(entity_id)")
        check_text(operation, "call_entity(operation)")
        held = [s for s in self._run.locks.values() if s.entered and not s.released]
        if held and entity.instance_id not in held[0].entities:
            raise ConfigurationError(
                f"call_entity({entity}): inside a critical section, call only the entities it "
                f"locked ({', '.join(held[0].entities)}); a call to another one could deadlock"
            )
        encoded = self._serializer.encode(arg, path=f"call_entity({operation!r}).arg")
        task_id = self._run.take_task_id()
        event = ev.EntityCalled(
            task_id=task_id,
            entity_name=entity.name,
            entity_key=entity.key,
            operation=operation,
            arg=encoded,
        )
        action = act.CallEntity(task_id, entity.name, entity.key, operation, encoded)
        return self._effect(event, action, Any)

    def lock_entities(self, *entity_ids: EntityId) -> Task[CriticalSection]:
        """Hold these entities for this orchestration: ``with (yield ctx.lock_entities(a, b)):``.

        They are locked in a global order, so two orchestrations cannot deadlock; other callers'
        operations on them wait until the block exits (or the run ends).
        """
        ids = sorted({as_entity_id(e, "lock_entities(entity_id)").instance_id for e in entity_ids})
        if not ids:
            raise ConfigurationError("lock_entities(): give at least one EntityId")
        if any(s.entered and not s.released for s in self._run.locks.values()):
            raise ConfigurationError(
                "lock_entities(): this orchestration holds a critical section already; lock "
                "every entity it needs at once (nested sections could deadlock)"
            )
        task_id = self._run.take_task_id()
        section = CriticalSection(self, task_id, tuple(ids))
        event = ev.EntityLockRequested(task_id=task_id, entities=section.entities)
        task = self._effect(event, act.LockEntities(task_id, section.entities), section)
        if not self._run.closing:
            self._run.locks[task_id] = section
        return task

    def _release(self, section: CriticalSection) -> None:
        """``section``'s block exited: its entities are released."""
        if self._run.locks.pop(section.task_id, None) is None or self._run.closing:
            return
        event = ev.EntityUnlockSent(task_id=self._run.take_task_id(), lock_task_id=section.task_id)
        self._effect(event, act.UnlockEntities(section.task_id, section.entities), None)

    # -- not yielded ---------------------------------------------------------------------------

    def continue_as_new(self, *args: Any, **kwargs: Any) -> ContinueAsNewRequest:
        """``return ctx.continue_as_new(new_input)``: restart this instance with a fresh history.

        Events that arrived but were not consumed are carried into the next run.
        """
        name = self._run.name
        definition = self._app.resolve_orchestrator(name)
        return ContinueAsNewRequest(
            self._serializer.encode_call(definition.fn, name, args, kwargs, skip_first=True)
        )

    def respond(self, request: UpdateRequest, value: Any = None) -> None:
        """Answer an update: the client's ``handle.update`` returns ``value`` (recorded once)."""
        self._answer(request, "respond")
        encoded = self._serializer.encode(value, path=f"respond({request.name!r}).value")
        self._answer_with(request, encoded, None)

    def reject(self, request: UpdateRequest, message: str) -> None:
        """Refuse an update: the client's ``handle.update`` raises ``UpdateRejected(message)``."""
        self._answer(request, "reject")
        self._answer_with(request, None, check_text(message, "reject(message)"))

    def write_stream(self, key: str, value: Any) -> None:
        """Append ``value`` to this instance's stream ``key`` (recorded once, never again on
        replay); clients read it with ``handle.read_stream(key)``."""
        check_text(key, "write_stream(key)")
        encoded = self._serializer.encode(value, path=f"write_stream({key!r}).value")
        event = ev.StreamWritten(task_id=self._run.take_task_id(), key=key, payload=encoded)
        self._effect(event, act.WriteStream(key, encoded), None).complete(None)

    def set_custom_status(self, value: Any) -> None:
        """A JSON value visible to clients (``status().custom_status``) and the dashboard."""
        self._run.custom_status = self._serializer.encode(value, path="custom_status")

    def send_event(self, instance_id: str, name: str, payload: Any = None) -> None:
        """Durably deliver event ``name`` to another instance (fire and forget)."""
        check_id(instance_id, "send_event(instance_id)")
        check_text(name, "send_event(name)")
        encoded = self._serializer.encode(payload, path=f"send_event({name!r}).payload")
        event = ev.EventSent(
            task_id=self._run.take_task_id(), instance_id=instance_id, name=name, payload=encoded
        )
        self._effect(event, act.SendEvent(instance_id, name, encoded), None).complete(None)

    def signal_entity(self, entity_id: EntityId, operation: str, arg: Any = None) -> None:
        """Durably deliver ``operation`` to an entity (fire and forget)."""
        entity_id = as_entity_id(entity_id, "signal_entity(entity_id)")
        check_text(operation, "signal_entity(operation)")
        encoded = self._serializer.encode(arg, path=f"signal_entity({operation!r}).arg")
        event = ev.EntitySignaled(
            task_id=self._run.take_task_id(),
            entity_name=entity_id.name,
            entity_key=entity_id.key,
            operation=operation,
            arg=encoded,
        )
        action = act.SignalEntity(entity_id.name, entity_id.key, operation, encoded)
        self._effect(event, action, None).complete(None)

    def patched(self, change_id: str) -> bool:
        """True on a run that is new at this point or whose history recorded this patch.

        False while replaying a history from before the change, so old instances keep the
        old code path and new ones take the new one.
        """
        return self._run.patched(change_id)

    def new_uuid(self) -> uuid.UUID:
        """A UUID that is the same on every replay (from the instance id and a counter)."""
        self._uuid_counter += 1
        seed = f"{self._seed()}/{self._uuid_counter}"
        return uuid.uuid5(uuid.NAMESPACE_URL, seed)

    def random(self) -> float:
        """A float in [0, 1) that is the same on every replay (seeded from the instance id)."""
        if self._rng is None:
            self._rng = _random.Random(self._seed())  # noqa: S311
        return self._rng.random()

    # -- machinery -----------------------------------------------------------------------------

    def _answer(self, request: UpdateRequest, verb: str) -> None:
        check_answerable(request, self._answered, verb)

    def _answer_with(
        self, request: UpdateRequest, result: str | None, rejection: str | None
    ) -> None:
        event = ev.UpdateResponded(
            task_id=self._run.take_task_id(),
            update_id=request.id,
            name=request.name,
            result=result,
            rejection=rejection,
        )
        action = act.RespondUpdate(request.id, result, rejection)
        self._effect(event, action, None).complete(None)
        self._answered.add(request.id)

    def _seed(self) -> str:
        return f"{self._run.instance_id}/{self._run.started.isoformat()}"

    def _effect(
        self, event: ev.ScheduledEvent, action: act.Action | None, hint: Any
    ) -> EffectTask[Any]:
        task: EffectTask[Any] = EffectTask(event, action, hint, caller_location())
        self._run.add_effect(task)
        return task

    def _timer(self, fire_at: datetime) -> EffectTask[None]:
        task_id = self._run.take_task_id()
        event = ev.TimerCreated(task_id=task_id, fire_at=fire_at)
        task = self._effect(event, act.StartTimer(task_id, fire_at), None)
        task.on_cancel = act.CancelTimer(task_id)
        return task

    def _due(self, when: timedelta | float | datetime, what: str) -> datetime:
        if isinstance(when, datetime):
            if when.tzinfo is None:
                raise ConfigurationError(f"{what}: datetime {when!r} must be timezone-aware")
            return when
        return self._run.now + to_timedelta(when, f"{what}={when!r}", allow_zero=True)
