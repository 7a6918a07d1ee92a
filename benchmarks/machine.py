"""What the run's figures depend on: the machine, the versions, the load around the run."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load() -> str:
    """The 1-minute load average (the machine may be shared: a high one explains noise)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def describe(postgres_version: str | None) -> dict[str, str]:
    """The machine and versions, as ``RESULTS.md`` lists them."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": f"{os.cpu_count()} x {cpu_model()}",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": sys.version.split()[0],
        "SQLite": f"{sqlite3.sqlite_version} (the library Python links)",
        "PostgreSQL": postgres_version or "not run",
        "durable": package("durable"),
        "drivers": f"aiosqlite {package('aiosqlite')}, asyncpg {package('asyncpg')}",
    }
