"""OpenTelemetry for durable (DESIGN 7a): spans, their trace context and metrics.

Active when ``opentelemetry-api`` is installed (the ``otel`` extra), imported lazily; without it
every call here is a cheap no-op. The application configures the SDK (exporters, sampling);
durable only uses the API's global providers.

* ``durable.start <name>``: the client's start. Its trace context (W3C ``traceparent``) is
  stored with the instance, so every episode and attempt, on any host, joins the same trace.
* ``durable.orchestrate <name>``: an episode, emitted once its commit landed (from the episode's
  time to the commit). A replay of the history re-runs the generator but commits nothing new,
  and emits nothing: a span per committed episode, keyed by ``durable.version``.
* ``durable.activity <name>``: one attempt, live around the user's function (spans it opens are
  its children), with ``durable.attempt``.

Metrics: ``durable.steps`` (counter: episodes committed and attempts run, by ``durable.step``),
``durable.episode.duration`` and ``durable.activity.duration`` (histograms, seconds),
``durable.lease.expired`` (counter), ``durable.queue.depth`` (gauge, when a worker reports it).

This module is layer L0: the standard library only, OpenTelemetry imported inside functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

#: the tracer's and meter's name
SCOPE = "durable"
#: instances whose trace context a process remembers (least recently used ones go first)
CONTEXTS_KEPT = 10_000

Carrier = dict[str, str]


_API: list[Any] = []


def _api() -> Any | None:
    """The OpenTelemetry API modules, or None when it is not installed (looked up once)."""
    if not _API:
        try:
            from opentelemetry import context, metrics, propagate, trace
        except ImportError:
            _API.append(None)
        else:
            # the environment is read once: a provider named there is loaded by the first
            # get_tracer_provider() (see Telemetry.enabled, asked several times per step)
            from_env = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ
            _API.append((context, metrics, propagate, trace, from_env))
    return _API[0]


class Telemetry:
    """The spans and instruments of one process (``TELEMETRY``); all no-ops without the API."""

    def __init__(self) -> None:
        self._contexts: OrderedDict[str, Carrier | None] = OrderedDict()
        self._names: OrderedDict[str, str] = OrderedDict()
        self._instruments: dict[str, Any] | None = None
        self._depth: dict[str, int] = {}

    @property
    def enabled(self) -> bool:
        """True when the API is installed and the application set a tracer provider."""
        api = _api()
        if api is None:
            return False
        trace = api[3]
        if getattr(trace, "_TRACER_PROVIDER", trace) is None and not api[4]:
            # no provider set, none named in the environment: the proxy, without
            # get_tracer_provider()'s read of os.environ (about 0.8 us, several times a step)
            return False
        provider = trace.get_tracer_provider()
        return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)

    @property
    def measuring(self) -> bool:
        """True when the API is installed and the application set a meter provider (then a
        worker reads its queues' depths for the ``durable.queue.depth`` gauge)."""
        api = _api()
        if api is None:
            return False
        provider = api[1].get_meter_provider()
        return type(provider).__name__ not in ("_ProxyMeterProvider", "NoOpMeterProvider")

    # -- trace context ---------------------------------------------------------------------

    def current_carrier(self) -> Carrier | None:
        """The current trace context as W3C headers (None outside a recording span)."""
        api = _api()
        if api is None:
            return None
        carrier: Carrier = {}
        api[2].inject(carrier)
        return carrier or None

    @staticmethod
    def encode(carrier: Carrier | None) -> str | None:
        return json.dumps(carrier, sort_keys=True) if carrier else None

    @staticmethod
    def decode(text: str | None) -> Carrier | None:
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None
        if not isinstance(value, dict):
            return None
        return {str(k): str(v) for k, v in value.items()}

    async def remember(
        self, instance_id: str, load: Callable[[str], Awaitable[Carrier | None]]
    ) -> None:
        """Look up (once per process) the trace context stored with ``instance_id``."""
        if not self.enabled or instance_id in self._contexts:
            if instance_id in self._contexts:
                self._contexts.move_to_end(instance_id)
            return
        self.keep(instance_id, await load(instance_id))

    def keep(self, instance_id: str, carrier: Carrier | None) -> None:
        self._contexts[instance_id] = carrier
        self._contexts.move_to_end(instance_id)
        while len(self._contexts) > CONTEXTS_KEPT:
            self._contexts.popitem(last=False)

    def _parent(self, instance_id: str) -> Any:
        api = _api()
        assert api is not None
        carrier = self._contexts.get(instance_id)
        if carrier is None:  # a start decided in the client's process: its span is current
            return api[0].get_current()
        return api[2].extract(carrier)

    def _name_of(self, instance_id: str, name: str) -> str:
        """``name``, remembered for the instance; or the one remembered when it is not given
        (an episode decided from a cached generator)."""
        if name:
            self._names[instance_id] = name
            self._names.move_to_end(instance_id)
            while len(self._names) > CONTEXTS_KEPT:
                self._names.popitem(last=False)
            return name
        return self._names.get(instance_id, "")

    # -- spans ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def start_span(self, name: str) -> Iterator[None]:
        """The client's ``durable.start <name>`` span, current inside the block."""
        api = _api()
        if api is None or not self.enabled:
            yield
            return
        tracer = api[3].get_tracer(SCOPE)
        with tracer.start_as_current_span(f"durable.start {name}", kind=_kind(api, "CLIENT")):
            yield

    def started(self, instance_id: str, name: str) -> str | None:
        """Name the current start span's instance; its trace context to store (or None)."""
        api = _api()
        if api is None or not self.enabled:
            return None
        span = api[3].get_current_span()
        span.set_attribute("durable.instance_id", instance_id)
        span.set_attribute("durable.name", name)
        return self.encode(self.current_carrier())

    def episode(
        self, name: str, instance_id: str, version: int, started_at: float | None, events: int
    ) -> None:
        """Record a committed episode: its span (from ``started_at``, unix seconds, to now)."""
        api = _api()
        if api is None or not self.enabled:
            return
        name = self._name_of(instance_id, name)
        now = time.time()
        begin = min(started_at or now, now)
        tracer = api[3].get_tracer(SCOPE)
        span = tracer.start_span(
            f"durable.orchestrate {name}",
            context=self._parent(instance_id),
            kind=_kind(api, "INTERNAL"),
            attributes={
                "durable.instance_id": instance_id,
                "durable.name": name,
                "durable.version": version,
                "durable.events": events,
            },
            start_time=int(begin * 1e9),
        )
        span.end(end_time=int(now * 1e9))
        self._record("episode", name, now - begin)

    @contextlib.contextmanager
    def activity(self, name: str, instance_id: str, task_id: int, attempt: int) -> Iterator[None]:
        """The span of one attempt, current while the user's function runs."""
        api = _api()
        if api is None or not self.enabled:
            yield
            return
        tracer = api[3].get_tracer(SCOPE)
        began = time.monotonic()
        attributes = {
            "durable.instance_id": instance_id,
            "durable.name": name,
            "durable.task_id": task_id,
            "durable.attempt": attempt,
        }
        try:
            with tracer.start_as_current_span(
                f"durable.activity {name}",
                context=self._parent(instance_id),
                kind=_kind(api, "CONSUMER"),
                attributes=attributes,
            ):
                yield
        finally:
            self._record("activity", name, time.monotonic() - began)

    # -- metrics ----------------------------------------------------------------------------

    def _meters(self, api: Any) -> dict[str, Any]:
        provider = api[1].get_meter_provider()
        if self._instruments is None or self._instruments["provider"] is not provider:
            meter = provider.get_meter(SCOPE)
            self._instruments = {
                "provider": provider,
                "steps": meter.create_counter("durable.steps", description="steps taken"),
                "episode": meter.create_histogram("durable.episode.duration", unit="s"),
                "activity": meter.create_histogram("durable.activity.duration", unit="s"),
                "expired": meter.create_counter("durable.lease.expired"),
                "depth": meter.create_observable_gauge(
                    "durable.queue.depth", callbacks=[self._observe_depth]
                ),
            }
        return self._instruments

    def _record(self, step: str, name: str, seconds: float) -> None:
        api = _api()
        if api is None:
            return
        meters = self._meters(api)
        meters["steps"].add(1, {"durable.step": step, "durable.name": name})
        meters[step].record(seconds, {"durable.name": name})

    def lease_expired(self, count: int = 1, kind: str = "orchestration") -> None:
        """Count leases that ran out under a worker (it learns so when the store refuses its
        commit or its attempt's outcome: the work had passed to another worker)."""
        api = _api()
        if api is not None and count:
            self._meters(api)["expired"].add(count, {"durable.kind": kind})

    def queue_depth(self, queue: str, depth: int) -> None:
        """Report the work waiting in ``queue`` (read by the gauge when it is collected)."""
        api = _api()
        if api is not None:
            self._meters(api)
            self._depth[queue] = depth

    def _observe_depth(self, options: Any) -> Iterator[Any]:
        from opentelemetry.metrics import Observation

        for queue, depth in self._depth.items():
            yield Observation(depth, {"durable.queue": queue})


def _kind(api: Any, name: str) -> Any:
    return getattr(api[3].SpanKind, name)


#: the process's telemetry
TELEMETRY = Telemetry()
