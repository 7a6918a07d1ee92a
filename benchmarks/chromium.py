"""Debian's Chromium as the dashboard's browser tests and its page benchmark launch it."""

from __future__ import annotations

import os

#: the browser (``make chromium`` installs Debian's); ``DURABLE_CHROMIUM`` points elsewhere
CHROMIUM = os.environ.get("DURABLE_CHROMIUM", "/usr/bin/chromium")
#: the flags Chromium needs on a machine without a screen, a sandbox or a network
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
