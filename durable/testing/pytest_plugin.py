"""The pytest plugin of ``durable.testing`` (registered by the package's ``pytest11`` entry point).

A ``durable_env`` fixture: an entered ``Environment`` for the app that the test names with
``@pytest.mark.durable_app(app)`` (keywords go to ``Environment``, e.g. ``auto_skip=False``), or
else that the ``durable_app`` fixture returns::

    @pytest.fixture
    def durable_app() -> durable.App:
        return app

    async def test_checkout(durable_env):
        assert await durable_env.run(checkout, order) == ...

The fixture is an asyncio fixture of pytest-asyncio, so it works in its strict mode (mark the
test ``@pytest.mark.asyncio``) and in its auto mode alike. Loading the plugin imports only
pytest: ``durable`` is imported when a test asks for the fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .environment import Environment

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixture then says what is missing
    pytest_asyncio = None  # type: ignore[assignment]

_MARKER = "durable_app"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(app, **options): the durable.App (and Environment options) that the "
        "durable_env fixture runs",
    )


def _app_and_options(request: pytest.FixtureRequest) -> tuple[Any, dict[str, Any]]:
    marker = request.node.get_closest_marker(_MARKER)
    if marker is not None:
        if len(marker.args) != 1:
            raise pytest.UsageError(
                f"@pytest.mark.{_MARKER}(app) takes the app as its one positional argument"
            )
        return marker.args[0], dict(marker.kwargs)
    try:
        return request.getfixturevalue(_MARKER), {}
    except pytest.FixtureLookupError:
        raise pytest.UsageError(
            f"durable_env needs an app: mark the test @pytest.mark.{_MARKER}(app), or define "
            f"a fixture named {_MARKER!r} that returns it"
        ) from None


async def _environment(request: pytest.FixtureRequest) -> AsyncIterator[Environment]:
    from .environment import Environment

    app, options = _app_and_options(request)
    async with Environment(app, **options) as env:
        yield env


if pytest_asyncio is not None:
    durable_env = pytest_asyncio.fixture(_environment, name="durable_env")
else:  # pragma: no cover

    @pytest.fixture(name="durable_env")
    def _missing() -> None:
        pytest.fail("the durable_env fixture needs pytest-asyncio: pip install pytest-asyncio")
