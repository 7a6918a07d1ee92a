"""``make bench-peers``: the peers' scripts (DBOS, Restate, duroxide, Temporal) run in the same
invocation.

The environments are those of ``shared/bench/peers/README.md``: virtualenvs under
``$PEERS_HOME`` (default ``~/durable-peers``) and the scripts beside that README (override with
``DURABLE_PEER_SCRIPTS``). Nothing is installed here. Each script prints a ``SUMMARY {json}``
line: ``{"<store> <W>": {figure: median}}``, read into ``report.PeerFigures``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .report import PeerFigures
from .runner import ROOT, Progress

PEERS_HOME = Path(os.environ.get("PEERS_HOME", Path.home() / "durable-peers"))
SCRIPTS = Path(os.environ.get("DURABLE_PEER_SCRIPTS", ROOT.parent / "shared" / "bench" / "peers"))
WORKLOADS = "W1,W2,W3,W4,W5"
#: Temporal's W2 alone takes minutes per repetition (RESULTS.md of the peers)
PEER_TIMEOUT = 4 * 3600.0


@dataclass(frozen=True, slots=True)
class Run:
    """One invocation of a peer script: the store kind of ours it compares with."""

    store: str
    args: tuple[str, ...]
    summary_prefix: str


@dataclass(frozen=True, slots=True)
class Peer:
    name: str
    python: Path
    script: Path
    needs: tuple[Path, ...]
    runs: tuple[Run, ...]

    def missing(self) -> list[Path]:
        return [path for path in (self.python, self.script, *self.needs) if not path.exists()]


def known_peers() -> list[Peer]:
    dbos = PEERS_HOME / "dbos-venv" / "bin"
    temporal = PEERS_HOME / "temporal-venv" / "bin"
    restate = PEERS_HOME / "restate-venv" / "bin"
    restate_server = Path(
        os.environ.get(
            "RESTATE_SERVER_BIN",
            PEERS_HOME / "restate-npm" / "node_modules" / "@restatedev"
            / "restate-server-linux-x64" / "bin" / "restate-server",
        )
    )  # fmt: skip
    duroxide = PEERS_HOME / "duroxide-venv" / "bin"
    return [
        Peer(
            "DBOS",
            dbos / "python",
            SCRIPTS / "dbos_bench.py",
            (),
            (
                Run("sqlite", ("--db", "sqlite"), "sqlite "),
                Run("postgres", ("--db", "postgres"), "postgres "),
            ),
        ),
        Peer(
            "Restate",
            restate / "python",
            SCRIPTS / "restate_bench.py",
            (restate_server,),
            # Restate keeps its own store (RocksDB, fsync on): set beside our SQLite, as the
            # embedded default of each
            (Run("sqlite", (), "restate "),),
        ),
        Peer(
            "duroxide",
            duroxide / "python",
            SCRIPTS / "duroxide_bench.py",
            (),
            (
                Run("sqlite", ("--db", "sqlite"), "sqlite "),
                Run("postgres", ("--db", "postgres"), "postgres "),
            ),
        ),
        Peer(
            "Temporal",
            temporal / "python",
            SCRIPTS / "temporal_bench.py",
            (temporal / "temporal",),
            # Temporal keeps its own store; its SQLite-file dev server is set beside our SQLite
            (Run("sqlite", ("--store", "file"), "temporal-file "),),
        ),
    ]


def present() -> tuple[list[Peer], str | None]:
    """The peers whose environments exist, and one line naming what is missing (or None)."""
    found, missing = [], []
    for peer in known_peers():
        absent = peer.missing()
        if absent:
            missing.append(f"{peer.name} ({', '.join(str(path) for path in absent)})")
        else:
            found.append(peer)
    if not missing:
        return found, None
    return found, (
        f"bench-peers: missing {'; '.join(missing)}; set them up as in "
        f"{SCRIPTS / 'README.md'} (PEERS_HOME={PEERS_HOME})"
    )


def run_peer(peer: Peer, reps: int, postgres_url: str | None, progress: Progress) -> PeerFigures:
    """Every run of ``peer``; a run that fails or has no store here is left out (and said)."""
    figures: dict[tuple[str, str], dict[str, float]] = {}
    for run in peer.runs:
        if run.store == "postgres" and postgres_url is None:
            progress(f"{peer.name} {run.store}: skipped, no PostgreSQL server")
            continue
        env = dict(os.environ)
        if postgres_url is not None:
            # the scripts append /<database>; the throwaway server trusts local connections
            env["PG_URL"] = postgres_url.rsplit("/", 1)[0]
            env["PG_DSN"] = postgres_url  # duroxide's script: a database it makes schemas in
        command = [str(peer.python), str(peer.script), *run.args]
        command += ["--workloads", WORKLOADS, "--reps", str(reps)]
        progress(f"{peer.name} {run.store}: {' '.join(command)}")
        summary = summary_of(command, env, progress)
        for label, values in summary.items():
            if label.startswith(run.summary_prefix):
                figures[(run.store, label[len(run.summary_prefix) :])] = values
    return {peer.name: figures}


def summary_of(
    command: list[str], env: dict[str, str], progress: Progress
) -> dict[str, dict[str, float]]:
    """Run a peer script, echoing its progress lines; its SUMMARY (empty if it failed)."""
    process = subprocess.Popen(
        command, cwd=SCRIPTS, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    summary: dict[str, dict[str, float]] = {}
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("SUMMARY "):
                summary = json.loads(line[len("SUMMARY ") :])
            else:
                progress("  " + line.rstrip())
        process.wait(timeout=PEER_TIMEOUT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait()
    return summary
