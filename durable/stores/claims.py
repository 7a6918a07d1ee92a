"""Claiming several instances at once: ``Store.claim_orchestrations``.

``Store`` includes ``BatchClaims``. When many instances fall due together (a hundred timers of
the same second), a worker claims them in one transaction, not one each; each instance of a batch
is claimed exactly as ``claim_orchestration`` would claim it (the same rules, the same count in
``OrchestrationWorkItem.claims``, the longest-waiting first), and never one twice. The conformance
suite checks each backend (tests/test_store_conformance_claims.py).

This module is layer L2: the vocabulary only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # base.py includes this protocol in ``Store``
    from .base import ClaimSpec, OrchestrationWorkItem


class BatchClaims(Protocol):
    """Leasing up to a number of claimable instances in one transaction."""

    async def claim_orchestrations(
        self, spec: ClaimSpec, limit: int
    ) -> list[OrchestrationWorkItem]:
        """Lease up to ``limit`` distinct instances that have visible messages and whose names
        ``spec`` can run, each as ``claim_orchestration`` would; empty when none is claimable
        (or ``limit`` < 1)."""
