"""Slots and per-instance locks of the worker (no store)."""

from __future__ import annotations

import anyio

from durable._worker.slots import InstanceLocks, Slots


async def test_slots_take_what_is_free_without_waiting() -> None:
    slots = Slots(3)
    assert slots.take_now(2) == 2
    assert slots.take_now(5) == 1
    assert slots.take_now() == 0
    slots.give_back(2)
    await slots.take()
    assert slots.take_now(3) == 1


async def test_an_instance_has_one_holder_at_a_time_in_arrival_order() -> None:
    locks = InstanceLocks()
    order: list[str] = []
    inside = 0

    async def step(name: str, instance_id: str) -> None:
        nonlocal inside
        async with locks.hold(instance_id):
            if instance_id == "a":
                inside += 1
                assert inside == 1
            order.append(name)
            await anyio.sleep(0.01)
            if instance_id == "a":
                inside -= 1

    async with anyio.create_task_group() as tg:
        for n in range(4):
            tg.start_soon(step, f"a{n}", "a")
            await anyio.sleep(0)  # arrive in order
        tg.start_soon(step, "b0", "b")
    assert [name for name in order if name.startswith("a")] == ["a0", "a1", "a2", "a3"]
    assert order.index("b0") < order.index("a1")  # another instance does not wait
    assert not locks._held


async def test_a_cancelled_waiter_leaves_the_line_and_the_lock_goes_on() -> None:
    locks = InstanceLocks()
    got: list[str] = []
    release = anyio.Event()

    async def first() -> None:
        async with locks.hold("a"):
            await release.wait()
            got.append("first")

    async def later() -> None:
        async with locks.hold("a"):
            got.append("later")

    async with anyio.create_task_group() as tg:
        tg.start_soon(first)
        await anyio.sleep(0)
        with anyio.CancelScope() as scope:
            scope.cancel()
            async with locks.hold("a"):  # cancelled while it waits
                got.append("never")
        tg.start_soon(later)
        await anyio.sleep(0)
        release.set()
    assert got == ["first", "later"]
    assert not locks._held
