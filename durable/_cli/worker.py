"""``durable worker MODULE:APP``: the command, its options and the settings of one worker process.

What it runs (the ``Worker``, the supervisor of ``--processes N``) is in ``serving``, imported
when the command runs: ``durable --help`` and the other commands never load the worker.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated

import typer

from .common import StoreOption, reported, settings, store_url
from .log_setup import LogFormat, LogLevel


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """The options of one worker process."""

    app_spec: str
    store: str
    queues: tuple[str, ...]
    concurrency: int
    shutdown_grace: float
    lease: float
    poll_interval: float
    log_level: LogLevel
    log_format: LogFormat
    max_episode_attempts: int = 5
    episode_timeout: float = 60.0
    max_processes: int | None = None

    def child_argv(self, supervisor: int) -> list[str]:
        """The command line of one supervised worker process (the store goes by environment,
        so that a password in its URL never shows in ``ps``)."""
        argv = [sys.executable, "-m", "durable", *(["--debug"] if settings.debug else [])]
        argv += ["worker", self.app_spec, "--supervised-by", str(supervisor)]
        for queue in self.queues:
            argv += ["--queue", queue]
        argv += ["--concurrency", str(self.concurrency)]
        argv += ["--shutdown-grace", repr(self.shutdown_grace), "--lease", repr(self.lease)]
        argv += ["--poll-interval", repr(self.poll_interval)]
        argv += ["--max-episode-attempts", str(self.max_episode_attempts)]
        argv += ["--episode-timeout", repr(self.episode_timeout)]
        if self.max_processes is not None:
            argv += ["--max-processes", str(self.max_processes)]
        return [*argv, "--log-level", self.log_level.value, "--log-format", self.log_format.value]


def worker(
    app_spec: Annotated[
        str, typer.Argument(metavar="MODULE:APP", help="Where the durable.App is, e.g. shop:app.")
    ],
    store: StoreOption = None,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            "-q",
            help="A queue to serve (repeatable; default: default and the app's declared queues).",
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Activities, and orchestrations, run at once per process.")
    ] = 64,
    processes: Annotated[
        int, typer.Option(min=1, help="Worker processes to run and keep running.")
    ] = 1,
    shutdown_grace: Annotated[
        float, typer.Option(min=0, metavar="SECONDS", help="Time in-flight work gets to finish.")
    ] = 10.0,
    lease: Annotated[
        float, typer.Option(min=0.1, metavar="SECONDS", help="Lease on claimed work.")
    ] = 30.0,
    poll_interval: Annotated[
        float, typer.Option(min=0.01, metavar="SECONDS", help="Longest idle wait between claims.")
    ] = 0.5,
    max_episode_attempts: Annotated[
        int,
        typer.Option(
            min=1, help="Episodes of one instance that may crash a worker before it ends FAILED."
        ),
    ] = 5,
    episode_timeout: Annotated[
        float,
        typer.Option(
            min=0.01, metavar="SECONDS", help="Longest episode; a longer one counts as a crash."
        ),
    ] = 60.0,
    max_processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Pool processes per worker for executor='process' activities (default: CPUs).",
        ),
    ] = None,
    log_level: Annotated[
        LogLevel, typer.Option(case_sensitive=False, help="Level of durable's logs.")
    ] = LogLevel.INFO,
    log_format: Annotated[
        LogFormat, typer.Option(case_sensitive=False, help="text for people, json for shippers.")
    ] = LogFormat.TEXT,
    supervised_by: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Run orchestrations and activities of MODULE:APP until SIGTERM or SIGINT."""
    with reported():
        worker_settings = WorkerSettings(
            app_spec=app_spec,
            store=store_url(store),
            queues=tuple(queue or ()),
            concurrency=concurrency,
            shutdown_grace=shutdown_grace,
            lease=lease,
            poll_interval=poll_interval,
            log_level=log_level,
            log_format=log_format,
            max_episode_attempts=max_episode_attempts,
            episode_timeout=episode_timeout,
            max_processes=max_processes,
        )
        from .serving import run

        code = run(worker_settings, processes, supervised_by)
    raise typer.Exit(code)
