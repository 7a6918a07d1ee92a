"""Durable streams: an LLM-like activity streams its tokens to a client as it makes them.

``answer`` writes progress to the stream ``"progress"`` from the orchestrator
(``ctx.write_stream``: recorded once, never written again on replay) and calls ``generate``, an
activity that writes each token to the stream ``"tokens"`` (``durable.write_stream``) as it
"thinks". The client reads both with ``handle.read_stream(key)``: each value once, in order,
waiting while the instance runs and ending when it finishes. A reader that starts late (here,
after the end) gets every value from the start. Run it with ``python samples/llm_stream.py``.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Generator
from typing import Any

import anyio

import durable

app = durable.App()


@app.activity
async def generate(prompt: str) -> str:
    """A stand-in for a model call: its tokens go out as they are made, the text is returned."""
    words = f"Durable streams carry each token of the answer to {prompt!r} in order".split()
    for word in words:
        await anyio.sleep(0.01)  # the model thinks
        durable.write_stream("tokens", word)
    return " ".join(words)


@app.orchestrator
def answer(
    ctx: durable.OrchestrationContext, prompt: str
) -> Generator[durable.Task[Any], Any, int]:
    ctx.write_stream("progress", "generating")
    text = yield ctx.call_activity(generate, prompt)
    ctx.write_stream("progress", "done")
    return len(text.split())


async def main(store: str) -> None:
    async with durable.Client(store, app=app) as client, durable.Worker(app, store):
        handle = await client.start(answer, "why streams?")
        line = []
        async for token in handle.read_stream("tokens"):  # live, as the activity writes
            line.append(token)
        print("live:", " ".join(line))
        print(f"result: {await handle.result(timeout=30)} tokens")
        late = [step async for step in handle.read_stream("progress")]  # after the end
        print(f"progress, read late: {late}")
        tail = [pair async for pair in handle.read_stream("tokens", start=9, with_offsets=True)]
        print(f"the last tokens with their offsets: {tail}")


if __name__ == "__main__":
    logging.getLogger("durable").setLevel(logging.CRITICAL)  # this program prints its own story
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp}/llm.db")
