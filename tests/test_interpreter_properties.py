"""Property: the cached path and the replay path of the interpreter never diverge.

Random orchestrator programs (a JSON list of steps, interpreted by one generic orchestrator) are
driven with random schedules: at each episode a random non-empty selection, in random order, of
the outstanding completions (activity results or failures, timer firings), raised events (also
ones nobody waits for yet), stale duplicates and, rarely, control requests. The kit's ``Driver``
checks at every episode that a fresh replay of the history prefix gives the identical episode
and that the history is contiguous with at most one terminal event, at its end; at the end the
whole history replayed from scratch gives the same status and output.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable import _actions as act
from durable import _events as ev
from durable._core.registry import App
from durable._errors import ActivityFailed, TaskTimeout
from durable._status import Status
from tests.interpreter_kit import Driver, done, failed, fired, raised

app = App()
EVENT_NAMES = ("e1", "e2")


@app.activity
def work(k: int) -> int:
    return k


@app.orchestrator
def interpret(ctx: Any, program: list[Any]) -> Generator[Any, Any, list[Any]]:
    out: list[Any] = []
    for step in program:
        kind = step[0]
        if kind == "act":
            out.append((yield ctx.call_activity(work, step[1])))
        elif kind == "sleep":
            yield ctx.sleep(step[1])
            out.append("slept")
        elif kind == "now":
            out.append((yield ctx.now()))
        elif kind == "all":
            out.append((yield ctx.when_all([ctx.call_activity(work, k) for k in step[1]])))
        elif kind == "any":
            task, timer = ctx.call_activity(work, step[1]), ctx.sleep(step[2])
            winner = yield ctx.when_any([task, timer])
            out.append("activity" if winner is task else "timer")
        elif kind == "wait":
            try:
                out.append((yield ctx.wait_for_event(step[1], timeout=step[2])))
            except TaskTimeout:
                out.append("timeout")
        elif kind == "mixed":
            try:
                wait = ctx.wait_for_event(step[1], timeout=step[2])
                out.append((yield ctx.when_all([wait, ctx.call_activity(work, step[3])])))
            except TaskTimeout:
                out.append("timeout")
        elif kind == "either":
            first, second = ctx.wait_for_event(step[1]), ctx.wait_for_event(step[2])
            winner = yield ctx.when_any([first, second])
            out.append(winner.result())
        elif kind == "send":
            ctx.send_event("peer", step[1], len(out))
        elif kind == "try":
            try:
                out.append((yield ctx.call_activity(work, step[1])))
            except ActivityFailed as exc:
                out.append(f"failed: {exc.message}")
    return out


keys = st.integers(0, 9)
seconds = st.integers(1, 100)
names = st.sampled_from(EVENT_NAMES)
steps = st.one_of(
    st.tuples(st.just("act"), keys),
    st.tuples(st.just("sleep"), seconds),
    st.tuples(st.just("now")),
    st.tuples(st.just("all"), st.lists(keys, min_size=1, max_size=4)),
    st.tuples(st.just("any"), keys, seconds),
    st.tuples(st.just("wait"), names, st.none() | seconds),
    st.tuples(st.just("mixed"), names, seconds, keys),
    st.tuples(st.just("either"), names, names),
    st.tuples(st.just("send"), names),
    st.tuples(st.just("try"), keys),
).map(list)
programs = st.lists(steps, max_size=10)


def outstanding(d: Driver) -> list[ev.HistoryEvent]:
    """Messages that could arrive now: results and failures of the open activities, firings
    of the open timers, events of every name, a stale duplicate, and control requests."""
    scheduled = {e.task_id for e in d.events_of(ev.ActivityScheduled)}
    timers = {e.task_id for e in d.events_of(ev.TimerCreated)}
    finished = {e.task_id for e in d.history if isinstance(e, ev.CompletionEvent)}
    withdrawn = {
        a.task_id
        for episode in d.episodes
        for a in episode.actions
        if isinstance(a, act.CancelTimer)
    }
    out: list[ev.HistoryEvent] = []
    for task_id in sorted(scheduled - finished):
        out += [done(task_id, task_id * 10), failed(task_id, message=f"#{task_id}")]
    out += [fired(task_id) for task_id in sorted(timers - finished - withdrawn)]
    out += [raised(name, f"{name}-{len(d.history)}") for name in EVENT_NAMES]
    if finished:
        out.append(done(min(finished), -1))  # stale: dropped
    out += [ev.CancelRequested(reason="stop"), ev.ExecutionSuspended(), ev.ExecutionResumed()]
    return out


def weights(message: ev.HistoryEvent) -> int:
    """Failures and control requests are drawn rarely, so that most runs get far."""
    if isinstance(message, ev.CancelRequested):
        return 1
    if isinstance(message, ev.ActivityFailed):
        return 3
    if isinstance(message, ev.ExecutionSuspended | ev.ExecutionResumed):
        return 2
    return 12


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(program=programs, data=st.data())
def test_cached_and_replayed_episodes_are_identical(program: list[Any], data: Any) -> None:
    d = Driver(app, interpret, program)
    inbox: list[ev.HistoryEvent] = []  # deferred messages, delivered again first
    for _ in range(40):
        if d.live.is_finished:
            break
        candidates = outstanding(d)
        pool = [i for i, m in enumerate(candidates) for _ in range(weights(m))]
        chosen = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True))
        batch = inbox + [candidates[i] for i in chosen]
        episode = d.apply(*batch)
        inbox = [batch[i] for i in episode.deferred]
        if episode.status is Status.SUSPENDED and not inbox:
            continue
    fresh = d.replay()
    fresh.close()
    if d.live.is_finished:
        assert d.history[-1].kind in ev.TERMINAL_KINDS
    if d.status is Status.COMPLETED:
        assert isinstance(d.result(), list)


@settings(max_examples=30, deadline=None, database=None)
@given(program=programs)
def test_a_program_answered_in_order_completes_with_one_result_per_value_step(
    program: list[Any],
) -> None:
    """Answer everything as it comes (results, firings, every event name): the run finishes."""
    d = Driver(app, interpret, program)
    for _ in range(60):
        if d.live.is_finished:
            break
        messages = [m for m in outstanding(d) if isinstance(m, ev.ActivityCompleted)]
        messages = [m for m in messages if m.result != "-1"]
        messages += [m for m in outstanding(d) if isinstance(m, ev.TimerFired | ev.EventRaised)]
        d.apply(*messages)
    assert d.status is Status.COMPLETED
    assert len(d.result()) == sum(1 for step in program if step[0] != "send")
    d.replay()
