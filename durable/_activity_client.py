"""The client's side of external completion (DESIGN 4): finish an activity attempt that
returned ``durable.complete_later()``, from wherever its token went (a webhook, a person)."""

from __future__ import annotations

from typing import Any

from . import _events as ev
from ._serde import Serializer
from ._text import check_text
from ._worker import handoff
from .stores.base import Store


class ActivityClient:
    """The external-completion calls of ``Client`` (it provides ``store`` and ``serializer``)."""

    serializer: Serializer

    @property
    def store(self) -> Store:  # pragma: no cover - Client's
        raise NotImplementedError

    async def complete_activity(self, token: str, result: Any = None) -> bool:
        """Complete the activity attempt of ``token`` (``durable.activity_info().token`` of an
        activity that returned ``durable.complete_later()``) with ``result``.

        True when recorded; False when ignored because the activity has its outcome already
        (a second completion: the first one wins). ``InstanceNotFound`` when the token names
        no attempt that can still take one: unknown, of a purged instance or an earlier run,
        or of an attempt that is over (it timed out and the activity ran again).
        """
        encoded = self.serializer.encode(result, path="complete_activity(result)")
        return await handoff.record(self.store, token, encoded, None)

    async def fail_activity(
        self, token: str, message: str, *, error_type: str = "durable.ExternalFailure"
    ) -> bool:
        """Fail the activity attempt of ``token`` for good (no further attempt): the
        orchestrator's ``call_activity`` raises ``ActivityFailed`` with ``error_type`` and
        ``message``. Returns and raises as ``complete_activity`` does."""
        check_text(message, "fail_activity(message)")
        check_text(error_type, "fail_activity(error_type)")
        error = ev.ErrorInfo(error_type, message)
        return await handoff.record(self.store, token, None, error)
