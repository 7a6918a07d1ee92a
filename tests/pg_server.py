"""A throwaway PostgreSQL server on 127.0.0.1 for the tests and the benchmarks.

``PostgresServer().start()`` runs ``initdb`` into a temporary directory and starts ``postgres``
on a free port with ``pg_ctl``; ``stop()`` removes everything. As root (CI), ``initdb`` and
``postgres`` refuse to run, so both run as the ``postgres`` system user (``runuser``) in a
directory that user owns. Debian keeps the binaries in ``/usr/lib/postgresql/<version>/bin``,
which is searched after PATH.

Written by hand rather than with pytest-postgresql: that plugin runs ``initdb`` as the current
user, which fails as root, and the crash tests need ``restart``/``stop(mode="immediate")``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

#: the database each server creates for the tests (the ``postgres`` one is left alone)
DATABASE = "durable_test"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries, or the server would not start (the message says which)."""


def find_bin_dir() -> Path | None:
    """The directory holding ``pg_ctl``, ``initdb`` and ``postgres``, or None."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates += [Path(path) for path in debian]
    for directory in candidates:
        if all((directory / tool).exists() for tool in ("pg_ctl", "initdb", "postgres")):
            return directory
    return None


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory, owned by this object.

    ``settings`` are extra ``postgres -c`` options. ``fsync=off`` by default: the tests kill
    processes, never the machine, so the page cache survives and commits stay durable; the
    benchmarks pass ``fsync="on"``.
    """

    def __init__(self, **settings: str) -> None:
        self.settings = {"fsync": "off", "max_connections": "200", **settings}
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise PostgresUnavailable(
                "PostgreSQL not found (no pg_ctl/initdb on PATH or in /usr/lib/postgresql/*/bin); "
                "`make test` installs it from Debian packages"
            )
        self.bin_dir = bin_dir
        self.port = _free_port()
        self._root = Path(tempfile.mkdtemp(prefix="durable-pg-"))
        self.data_dir = self._root / "data"
        self.socket_dir = self._root / "sock"
        self.log_file = self._root / "postgres.log"
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        """The URL of the test database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(
            command, check=check, capture_output=True, text=True, timeout=120, cwd=self._root
        )

    def start(self) -> PostgresServer:
        """initdb (the first time), then start the server and wait until it accepts."""
        if not self.data_dir.exists():
            self.socket_dir.mkdir(parents=True)
            if self._as_postgres:
                shutil.chown(self._root, "postgres")
                shutil.chown(self.socket_dir, "postgres")
            init = self._run(
                "initdb", "-D", str(self.data_dir), "-U", "postgres", "-A", "trust",
                "-E", "UTF8", "--locale=C", check=False,
            )  # fmt: skip
            if init.returncode:
                raise PostgresUnavailable(f"initdb failed: {init.stderr.strip() or init.stdout}")
        self._pg_ctl_start()
        if not getattr(self, "_created", False):
            self.psql(f"CREATE DATABASE {DATABASE}", database="postgres")
            self._created = True
        return self

    def _pg_ctl_start(self) -> None:
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.socket_dir}",
                *(f"-c {key}={value}" for key, value in self.settings.items()),
            ]
        )
        started = self._run(
            "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir),
            "-l", str(self.log_file), "-o", options, check=False,
        )  # fmt: skip
        if started.returncode:
            log = self.log_file.read_text() if self.log_file.exists() else ""
            raise PostgresUnavailable(
                f"pg_ctl start failed: {started.stderr.strip()} {log[-2000:]}".strip()
            )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``mode``: smart, fast or immediate); it can be started again."""
        self._run("pg_ctl", "stop", "-w", "-D", str(self.data_dir), "-m", mode, check=False)

    def restart(self, mode: str = "immediate") -> None:
        """Stop (a crash, by default) and start again on the same port."""
        self.stop(mode)
        self._pg_ctl_start()

    def psql(self, sql: str, database: str = DATABASE) -> str:
        """Run SQL through psql on the Unix socket; its output."""
        done = self._run(
            "psql", "-X", "-q", "-At", "-h", str(self.socket_dir), "-p", str(self.port),
            "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-c", sql,
        )  # fmt: skip
        return done.stdout

    def destroy(self) -> None:
        """Stop the server and delete its directory."""
        self.stop("immediate")
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.destroy()
