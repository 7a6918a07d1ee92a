"""samples/failover.py with the testing kit: the GPU queue, and the fall back without one."""

from __future__ import annotations

from durable.testing import Environment
from samples.failover import app, transcribe, transcribe_on_cpu


async def test_a_gpu_worker_transcribes() -> None:
    async with Environment(app) as env:  # serves every queue the app names, "gpu" too
        assert await env.run(transcribe, "clip-1") == "clip-1: transcribed on a GPU"


async def test_without_a_gpu_worker_it_falls_back_to_the_cpu() -> None:
    async with Environment(app, queues=["default"]) as env:
        start = env.now()
        assert await env.run(transcribe, "clip-2") == "clip-2: transcribed on a CPU (slower)"
        assert (env.now() - start).total_seconds() >= 0.5  # the schedule-to-start timeout
        assert len(env.calls(transcribe_on_cpu)) == 1
