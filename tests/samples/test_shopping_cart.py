"""samples/shopping_cart.py with the testing kit: answers, rejections, continue-as-new."""

from __future__ import annotations

import anyio
import pytest

import durable
from durable.testing import Environment
from samples.shopping_cart import CHANGES_PER_RUN, app, cart

pytestmark = pytest.mark.durable_app(app)


async def test_each_change_answers_with_the_new_total(durable_env: Environment) -> None:
    handle = await durable_env.client.start(cart, {})
    assert await handle.update("add", "bread", timeout=10) == 250
    assert await handle.update("add", "apple", timeout=10) == 300
    assert await handle.update("remove", "bread", timeout=10) == 50
    assert await handle.update("checkout", None, timeout=10) == "paid 50 cents for 1 item(s)"
    assert await handle.result(timeout=10) == "paid 50 cents for 1 item(s)"


async def test_refused_changes_raise_update_rejected(durable_env: Environment) -> None:
    handle = await durable_env.client.start(cart, {})
    with pytest.raises(durable.UpdateRejected, match="the cart is empty"):
        await handle.update("checkout", None, timeout=10)
    with pytest.raises(durable.UpdateRejected, match="we do not sell 'caviar'"):
        await handle.update("add", "caviar", timeout=10)


async def test_updates_sent_together_are_all_answered_across_continue_as_new(
    durable_env: Environment,
) -> None:
    handle = await durable_env.client.start(cart, {})
    totals: list[int] = []

    async def add() -> None:
        totals.append(await handle.update("add", "apple", timeout=10))

    async with anyio.create_task_group() as tg:
        for _ in range(CHANGES_PER_RUN * 2 + 1):  # more than two runs' worth
            tg.start_soon(add)
    assert sorted(totals) == [50 * n for n in range(1, CHANGES_PER_RUN * 2 + 2)]
    assert await handle.update("checkout", None, timeout=10) == "paid 350 cents for 7 item(s)"
