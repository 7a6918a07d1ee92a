"""The API reference documents every public name.

``docs/reference.md`` lists each name with mkdocstrings (``::: module.Name`` under the heading
``durable.Name``); the strict docs build checks that each one resolves.
"""

from __future__ import annotations

import re

import durable

from .console_kit import ROOT


def test_every_public_name_has_a_reference_entry() -> None:
    page = (ROOT / "docs" / "reference.md").read_text()
    headings = set(re.findall(r"^\s+heading: (\S+)$", page, re.M))
    wanted = {f"durable.{name}" for name in durable.__all__}
    assert wanted | {"durable.stores.open_store"} == headings
