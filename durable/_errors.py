"""The error tree of durable.

```
DurableError
 +-- ActivityFailed          an activity gave up after its retry policy (thrown in at the yield)
 +-- OrchestrationFailed     an orchestration (or sub-orchestration) ended FAILED
 +-- NonDeterminismError     the code yielded something other than what the history recorded
 +-- TaskTimeout             a timeout passed first (wait_for_event, result, schedule-to-start);
 |                           also a TimeoutError, so ``except TimeoutError`` catches it
 +-- InstanceNotFound        no instance has that id
 +-- InstanceAlreadyExists   an instance with that id exists already
 +-- Terminated              the instance was terminated
 +-- Cancelled               the instance was cancelled (thrown into the orchestrator)
 +-- SerializationError      a value cannot be encoded or decoded faithfully
 +-- HistoryCorrupted        a stored history is not one durable could have written
 +-- StoreError              the store failed (the driver error is the __cause__)
 +-- ConfigurationError      the program is set up wrongly (registration, names, URLs, options)
```

Every error keeps its data in attributes so programs can act on them; the message alone tells a
person what went wrong and where.
"""

from __future__ import annotations


class DurableError(Exception):
    """Base class of every error raised by durable."""


class _RemoteFailure(DurableError):
    """A failure that happened elsewhere (another process or host) and travelled as data."""

    def __init__(
        self, message: str, *, error_type: str, cause_message: str, traceback: str
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = cause_message
        self.traceback = traceback


class ActivityFailed(_RemoteFailure):
    """An activity failed after its retry policy gave up.

    Attributes:
        activity_name: the registered name of the activity.
        error_type: qualified name of the exception the activity raised (e.g. ``"ValueError"``).
        message: that exception's message.
        traceback: the formatted traceback of the last attempt.
        attempts: how many attempts were made.
    """

    def __init__(
        self,
        activity_name: str,
        *,
        error_type: str,
        message: str,
        traceback: str = "",
        attempts: int = 1,
    ) -> None:
        plural = "attempt" if attempts == 1 else "attempts"
        super().__init__(
            f"activity {activity_name!r} failed after {attempts} {plural}: {error_type}: {message}",
            error_type=error_type,
            cause_message=message,
            traceback=traceback,
        )
        self.activity_name = activity_name
        self.attempts = attempts


class OrchestrationFailed(_RemoteFailure):
    """An orchestration ended FAILED.

    Attributes:
        instance_id: the failed instance.
        error_type: qualified name of the exception that escaped the orchestrator.
        message: that exception's message.
        traceback: its formatted traceback, including the orchestrator's own ``yield`` line.
    """

    def __init__(
        self, instance_id: str, *, error_type: str, message: str, traceback: str = ""
    ) -> None:
        super().__init__(
            f"orchestration {instance_id!r} failed: {error_type}: {message}",
            error_type=error_type,
            cause_message=message,
            traceback=traceback,
        )
        self.instance_id = instance_id


class EntityFailed(_RemoteFailure):
    """An entity operation called with ``ctx.call_entity`` raised; the entity's state is unchanged.

    Attributes:
        entity: the entity's id as text (``@name@key``).
        operation: the operation's name.
        error_type: qualified name of the exception the operation raised.
        message: that exception's message.
        traceback: the formatted traceback of the operation.
    """

    def __init__(
        self, entity: str, operation: str, *, error_type: str, message: str, traceback: str = ""
    ) -> None:
        super().__init__(
            f"entity {entity} operation {operation!r} failed: {error_type}: {message}",
            error_type=error_type,
            cause_message=message,
            traceback=traceback,
        )
        self.entity = entity
        self.operation = operation


class NonDeterminismError(DurableError):
    """The orchestrator's code no longer matches the history it is replaying.

    Attributes:
        instance_id: the instance whose history did not match.
        task_id: the effect's sequence number (0 for the first effect the orchestrator yielded).
        history_seq: the position of the mismatching event in the history, when there is one.
        recorded: what the history holds at that point (e.g. ``"ActivityScheduled 'charge'"``).
        produced: what the code yielded instead (e.g. ``"TimerCreated"``).
        filename, lineno: where the code created the mismatching effect, when known.
    """

    def __init__(
        self,
        instance_id: str,
        *,
        task_id: int,
        recorded: str,
        produced: str,
        history_seq: int | None = None,
        filename: str | None = None,
        lineno: int | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.task_id = task_id
        self.history_seq = history_seq
        self.recorded = recorded
        self.produced = produced
        self.filename = filename
        self.lineno = lineno
        where = f" at {filename}:{lineno}" if filename else ""
        at_seq = f" (history seq {history_seq})" if history_seq is not None else ""
        super().__init__(
            f"non-deterministic orchestration {instance_id!r}: effect #{task_id}{at_seq}: "
            f"the history holds {recorded}, the code produced {produced}{where}. "
            "Restore the old code path, or guard the change with ctx.patched(...)."
        )


class TaskTimeout(DurableError, TimeoutError):
    """A timeout passed before the awaited thing happened.

    Also a ``TimeoutError``: ``except TimeoutError`` catches it, as it catches asyncio's and
    anyio's timeouts.
    """


class UpdateRejected(DurableError):
    """The orchestrator answered an update with ``ctx.reject(req, message)``.

    Attributes:
        name: the update's name.
        message: the orchestrator's reason.
    """

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"update {name!r} was rejected: {message}")
        self.name = name
        self.message = message


class InstanceNotFound(DurableError):
    """No instance has this id.

    Attributes:
        instance_id: the id that was looked up.
    """

    def __init__(self, instance_id: str, *, hint: str | None = None) -> None:
        # ``hint``: a message of its own (an activity token that names no open attempt)
        super().__init__(hint or f"no instance with id {instance_id!r}")
        self.instance_id = instance_id


class InstanceAlreadyExists(DurableError):
    """An instance with this id exists already (see ``if_exists=`` of ``Client.start``).

    Attributes:
        instance_id: the id in use.
    """

    def __init__(
        self, instance_id: str, *, hint: str = "pass if_exists='return' to get its handle instead"
    ) -> None:
        super().__init__(f"an instance with id {instance_id!r} already exists ({hint})")
        self.instance_id = instance_id


class Terminated(DurableError):
    """The instance was terminated; no orchestrator code ran after that.

    Attributes:
        instance_id: the terminated instance.
        reason: the reason given to ``terminate``, if any.
    """

    def __init__(self, instance_id: str, reason: str | None = None) -> None:
        suffix = f": {reason}" if reason else ""
        super().__init__(f"instance {instance_id!r} was terminated{suffix}")
        self.instance_id = instance_id
        self.reason = reason


class Cancelled(DurableError):
    """The instance is being cancelled; thrown into the orchestrator at its current ``yield``.

    Catch it to compensate (more effects may be yielded); let it propagate to end the
    instance ``CANCELED``.

    Attributes:
        reason: the reason given to ``cancel``, if any.
    """

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(f"cancelled: {reason}" if reason else "cancelled")
        self.reason = reason


class SerializationError(DurableError):
    """A value cannot be encoded to, or decoded from, a payload faithfully.

    Attributes:
        path: where in the value the problem is, e.g. ``"order.items[2]"``.
    """

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class HistoryCorrupted(DurableError):
    """A stored history is not one durable could have written (gaps, unknown kinds, orphans).

    Attributes:
        instance_id: the instance whose history is corrupt.
        seq: the position of the offending event.
    """

    def __init__(self, instance_id: str, seq: int, problem: str) -> None:
        super().__init__(f"corrupt history of instance {instance_id!r} at seq {seq}: {problem}")
        self.instance_id = instance_id
        self.seq = seq


class StoreError(DurableError):
    """The store failed; the driver's error is chained as ``__cause__``."""


class ConfigurationError(DurableError):
    """The program is set up wrongly: registration, names, URLs or options."""


def qualified_name(exc_type: type[BaseException]) -> str:
    """The name by which an exception type is recorded: ``module.Qualname``, bare for builtins."""
    module = exc_type.__module__
    if module == "builtins":
        return exc_type.__qualname__
    if module.startswith("durable."):
        module = "durable"
    return f"{module}.{exc_type.__qualname__}"
