"""The users' testing kit (DESIGN 7b): test orchestrators in milliseconds, without a server.

* ``Environment(app)``: a memory store, an in-process worker and a virtual clock that skips
  to the next due timer while an instance is awaited; mocks of activities and
  sub-orchestrations; the calls each received.
* ``replay(app, histories)``: replay recorded histories against the current code, before a
  deploy, and report every instance that would raise ``NonDeterminismError``.
* A pytest plugin (``durable.testing.pytest_plugin``, registered by the package's ``pytest11``
  entry point): the ``durable_env`` fixture.
"""

from .environment import Environment
from .mocks import Call
from .replay import ReplayFailure, ReplayReport, replay

__all__ = ["Call", "Environment", "ReplayFailure", "ReplayReport", "replay"]
