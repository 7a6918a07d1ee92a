"""Replay before a deploy: recorded histories against the current code.

``await replay(app, histories)`` rebuilds each instance's orchestrator from its history with
``app``'s code, as a worker that lost its cache would, and reports every instance that would
raise ``NonDeterminismError`` (or whose orchestrator the app no longer registers). Nothing is
written and no activity runs: the interpreter is pure.

``histories`` is a store URL (every instance in the store, or those ``ids``/``name`` select), the
path of a ``durable export`` file, one history (``await handle.history()``), or several (a list
of them, or a dict of histories by instance id).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._core.interpreter import Orchestration
from .._core.registry import App
from .._entities import ENTITY_PREFIX
from .._errors import ConfigurationError, DurableError
from .._events import HistoryEvent
from ..stores.dumps import InstanceDump, from_json

#: instances read from a store per call
_PAGE = 200


@dataclass(frozen=True, slots=True)
class ReplayFailure:
    """An instance whose history the current code cannot replay, and why."""

    instance_id: str
    name: str
    #: ``NonDeterminismError`` (the code yields something else at some point), or the error
    #: that stopped the replay (e.g. ``ConfigurationError``: the orchestrator is not registered)
    error: DurableError

    def __str__(self) -> str:
        return f"{self.instance_id} ({self.name}): {self.error}"


@dataclass(slots=True)
class ReplayReport:
    """What a replay found: ``ok`` when every history replayed, else the ``failures``."""

    #: how many instances' histories were replayed
    replayed: int = 0
    failures: list[ReplayFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no instance failed to replay."""
        return not self.failures

    def __str__(self) -> str:
        if self.ok:
            return f"{self.replayed} histories replayed, no failures"
        lines = [f"{len(self.failures)} of {self.replayed} histories fail to replay:"]
        return "\n".join([*lines, *(f"  {failure}" for failure in self.failures)])


@dataclass(frozen=True, slots=True)
class _Recorded:
    instance_id: str
    name: str
    history: Sequence[HistoryEvent]
    retry: dict[str, object] | None = None
    attempt: int = 1


def replay_one(app: App, recorded: _Recorded) -> ReplayFailure | None:
    """Replay one history; the failure, or None when it replays."""
    if recorded.name not in app.orchestrators:
        error = ConfigurationError(
            f"orchestrator {recorded.name!r} is not registered with this App (instance "
            f"{recorded.instance_id!r} runs it); registered: {', '.join(sorted(app.orchestrators))}"
        )
        return ReplayFailure(recorded.instance_id, recorded.name, error)
    try:
        orchestration = Orchestration(
            app,
            recorded.instance_id,
            recorded.history,
            retry=recorded.retry,
            attempt=recorded.attempt,
        )
    except DurableError as exc:
        return ReplayFailure(recorded.instance_id, recorded.name, exc)
    orchestration.close()
    return None


async def replay(
    app: App,
    histories: str | Path | Sequence[HistoryEvent] | Iterable[Any] | Mapping[str, Any],
    *,
    ids: Iterable[str] | None = None,
    name: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Replay recorded histories against ``app``'s code (see the module).

    ``ids``/``name`` select instances of a store or a file. ``progress`` is called with the
    count replayed so far after each instance.
    """
    wanted = None if ids is None else set(ids)
    report = ReplayReport()
    async for recorded in _recorded(histories):
        if (wanted is not None and recorded.instance_id not in wanted) or (
            name is not None and recorded.name != name
        ):
            continue
        if wanted is not None:
            wanted.discard(recorded.instance_id)
        if recorded.name.startswith(ENTITY_PREFIX):  # an entity: no history, nothing replays
            continue
        failure = replay_one(app, recorded)
        report.replayed += 1
        if failure is not None:
            report.failures.append(failure)
        if progress is not None:
            progress(report.replayed)
    if wanted:
        from .._errors import InstanceNotFound

        raise InstanceNotFound(sorted(wanted)[0])
    return report


async def _recorded(histories: Any) -> AsyncIterator[_Recorded]:
    if isinstance(histories, Path) or (isinstance(histories, str) and "://" not in histories):
        for dump in read_export(Path(histories)):
            yield _of_dump(dump)
    elif isinstance(histories, str):
        async for dump in _from_store(histories):
            yield _of_dump(dump)
    elif isinstance(histories, Mapping):
        for instance_id, history in histories.items():
            yield _of_events(str(instance_id), history)
    else:
        items = list(histories)
        if items and all(isinstance(item, HistoryEvent) for item in items):
            items = [items]  # one history
        for index, item in enumerate(items):
            if isinstance(item, InstanceDump):
                yield _of_dump(item)
            else:
                yield _of_events(f"history-{index}", item)


def _of_dump(dump: InstanceDump) -> _Recorded:
    return _Recorded(dump.instance_id, dump.name, dump.history, dump.retry, dump.attempt)


def _of_events(instance_id: str, history: Iterable[Any]) -> _Recorded:
    events = list(history)
    if not all(isinstance(event, HistoryEvent) for event in events):
        raise ConfigurationError(
            f"replay: history {instance_id!r} is not a list of history events (pass "
            "await handle.history(), a store URL or an export file)"
        )
    started = next((e for e in events if e.kind == "ExecutionStarted"), None)
    if started is None:
        raise ConfigurationError(f"replay: history {instance_id!r} has no ExecutionStarted")
    return _Recorded(instance_id, str(getattr(started, "name", "")), events)


def read_export(path: Path) -> Iterable[InstanceDump]:
    """The instances of a ``durable export`` file (JSON lines), in file order."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"replay: cannot read {str(path)!r}: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigurationError(f"{path}:{number}: not JSON ({exc.msg})") from None
            yield from_json(data)


async def _from_store(url: str) -> AsyncIterator[InstanceDump]:
    from ..stores import open_store

    store = open_store(url)
    await store.open()
    try:
        after = None
        while True:
            page = await store.export_instances(after=after, limit=_PAGE)
            for dump in page:
                yield dump
            if len(page) < _PAGE:
                return
            after = page[-1].instance_id
    finally:
        await store.close()
