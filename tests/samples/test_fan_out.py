"""samples/fan_out.py with the testing kit: every page counted, the counts summed."""

from __future__ import annotations

import pytest

from durable.testing import Environment
from samples.fan_out import app, count_words, word_count

pytestmark = pytest.mark.durable_app(app)


async def test_words_of_every_page_are_summed(durable_env: Environment) -> None:
    durable_env.mock_activity(count_words, side_effect=lambda page: 10)  # no downloads
    assert await durable_env.run(word_count, "example.org") == {"pages": 20, "words": 200}
    assert len(durable_env.calls(count_words)) == 20
