"""The SQLite schema: its migrations, and the checks that run before anything is written.

Times are REAL unix seconds (UTC) of the store's clock (``time.time()`` in the store's process).
An activity row's ``visible_at`` is also its lease expiry while leased: a claim moves it to
``now + lease``, so "claimable" is simply ``visible_at <= now`` and one index serves the claim.
An instance's ``ready_at`` is when a released instance may be claimed again (``release``'s
``retry_in``); its lease is ``lease_owner`` and ``lease_expires_at``.
"""

from __future__ import annotations

import sqlite3

from ..._errors import StoreError

#: the table that marks a database as durable's and holds its schema version
VERSION_TABLE = "durable_schema_version"

_V1 = (
    f"CREATE TABLE {VERSION_TABLE} (version INTEGER NOT NULL, migrated_at REAL NOT NULL)",
    """CREATE TABLE instances (
        instance_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        input TEXT NOT NULL,
        output TEXT,
        error TEXT,
        custom_status TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        execution_id INTEGER NOT NULL,
        version INTEGER NOT NULL,
        parent_instance_id TEXT,
        parent_task_id INTEGER,
        parent_execution_id INTEGER,
        retry TEXT,
        attempt INTEGER NOT NULL DEFAULT 1,
        lease_owner TEXT,
        lease_expires_at REAL,
        ready_at REAL NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX instances_created ON instances (created_at)",
    "CREATE INDEX instances_status ON instances (status, created_at)",
    "CREATE INDEX instances_name ON instances (name, created_at)",
    "CREATE INDEX instances_ready ON instances (ready_at)",
    """CREATE INDEX instances_parent ON instances (parent_instance_id)
        WHERE parent_instance_id IS NOT NULL""",
    "CREATE INDEX instances_lease ON instances (lease_owner) WHERE lease_owner IS NOT NULL",
    # the primary key is the split-brain guard: a second writer of one seq fails
    """CREATE TABLE history (
        instance_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (instance_id, seq)
    ) WITHOUT ROWID""",
    # AUTOINCREMENT: ids never come back, so a message id held by a stale worker never names a
    # newer message
    """CREATE TABLE inbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        instance_id TEXT NOT NULL,
        execution_id INTEGER,
        kind TEXT NOT NULL,
        task_id INTEGER,
        data TEXT NOT NULL,
        visible_at REAL NOT NULL
    )""",
    "CREATE INDEX inbox_visible ON inbox (visible_at)",
    "CREATE INDEX inbox_instance ON inbox (instance_id, visible_at)",
    """CREATE TABLE activities (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        instance_id TEXT NOT NULL,
        execution_id INTEGER NOT NULL,
        task_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        queue TEXT NOT NULL,
        input TEXT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0,
        retry TEXT,
        timeout REAL,
        heartbeat_timeout REAL,
        start_deadline REAL,
        heartbeat_details TEXT,
        scheduled_at REAL NOT NULL,
        visible_at REAL NOT NULL,
        lease_owner TEXT,
        started INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX activities_claim ON activities (queue, visible_at)",
    # due times of rows waiting for a first or next attempt (wait_for_work's timeout)
    "CREATE INDEX activities_due ON activities (visible_at) WHERE lease_owner IS NULL",
    "CREATE INDEX activities_instance ON activities (instance_id)",
    "CREATE INDEX activities_lease ON activities (lease_owner) WHERE lease_owner IS NOT NULL",
    """CREATE INDEX activities_unstarted ON activities (start_deadline)
        WHERE started = 0 AND start_deadline IS NOT NULL""",
)

# Version 2: the lease-owner indexes go. They served renewing every lease a worker held; leases
# are renewed by id now, and every query on lease_owner also names a primary key, so they only
# cost each claim and commit an index page to write.
_V2 = (
    "DROP INDEX instances_lease",
    "DROP INDEX activities_lease",
)

# Version 3: an instance counts the claims of its episodes since its last commit, so that an
# episode that crashes its worker (or runs past the episode timeout) every time ends FAILED
# after ``max_episode_attempts`` instead of crash-looping (DESIGN 4a).
_V3 = ("ALTER TABLE instances ADD COLUMN claims INTEGER NOT NULL DEFAULT 0",)

# Version 4: workers announce themselves (DESIGN 7), and an instance keeps the trace context
# of the start that made it (DESIGN 7a), in tables of their own.
_V4 = (
    """CREATE TABLE workers (
        worker_id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        queues TEXT NOT NULL,
        orchestrators TEXT NOT NULL,
        activities TEXT NOT NULL,
        started_at REAL NOT NULL,
        last_seen REAL NOT NULL
    )""",
    "CREATE TABLE traces (instance_id TEXT PRIMARY KEY, context TEXT NOT NULL)",
)

# Version 5: an instance's durable streams (each key's values numbered from 0) and the answers
# to its updates, kept for the clients that read them (DESIGN 4a).
_V5 = (
    """CREATE TABLE streams (
        instance_id TEXT NOT NULL,
        key TEXT NOT NULL,
        position INTEGER NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (instance_id, key, position)
    ) WITHOUT ROWID""",
    """CREATE TABLE update_results (
        instance_id TEXT NOT NULL,
        update_id TEXT NOT NULL,
        result TEXT,
        rejection TEXT,
        PRIMARY KEY (instance_id, update_id)
    ) WITHOUT ROWID""",
)

# Version 6: flow control and time (DESIGN 4, 4a). An instance keeps its tags (JSON, for reads;
# the ``tags`` table is their index, newest first per tag), the priority and fairness key its
# activities inherit; an activity row its own. Declared queues remember their recent starts
# (the rate window) and the turn each fairness key was last served; schedules their state.
_V6 = (
    "ALTER TABLE instances ADD COLUMN tags TEXT",
    "ALTER TABLE instances ADD COLUMN priority INTEGER",
    "ALTER TABLE instances ADD COLUMN fairness_key TEXT",
    "ALTER TABLE activities ADD COLUMN priority INTEGER",
    "ALTER TABLE activities ADD COLUMN fairness_key TEXT",
    """CREATE TABLE tags (
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        created_at REAL NOT NULL,
        instance_id TEXT NOT NULL,
        PRIMARY KEY (key, value, created_at, instance_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX tags_instance ON tags (instance_id)",
    "CREATE TABLE queue_starts (queue TEXT NOT NULL, started_at REAL NOT NULL)",
    "CREATE INDEX queue_starts_at ON queue_starts (queue, started_at)",
    """CREATE TABLE queue_turns (
        queue TEXT NOT NULL,
        fairness_key TEXT NOT NULL,
        turn INTEGER NOT NULL,
        PRIMARY KEY (queue, fairness_key)
    ) WITHOUT ROWID""",
    """CREATE TABLE schedules (
        schedule_id TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0,
        last_slot INTEGER NOT NULL
    )""",
)

#: MIGRATIONS[n] takes a database from version n to n + 1 (statements run in one transaction)
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4, _V5, _V6)
SCHEMA_VERSION = len(MIGRATIONS)


def check_database(conn: sqlite3.Connection, where: str) -> int:
    """The durable schema version of the database (0 for an empty one), reading only.

    Refuses, touching nothing, a file of another application and a newer durable schema.
    """
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    tables.discard("sqlite_sequence")
    if not tables:
        return 0
    if VERSION_TABLE not in tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(
            f"{where}: not a durable database: it holds other tables ({shown}) and no "
            f"{VERSION_TABLE} table; refusing to touch it (use a new file for durable)"
        )
    row = conn.execute(f"SELECT max(version) FROM {VERSION_TABLE}").fetchone()  # noqa: S608
    version = int(row[0] or 0)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{where}: the database has durable schema version {version}, newer than this "
            f"version of durable knows ({SCHEMA_VERSION}); upgrade durable to open it"
        )
    return version


def migrate(conn: sqlite3.Connection, where: str, now: float) -> None:
    """Bring the schema to ``SCHEMA_VERSION`` in one transaction (a no-op when it is there).

    The version is read again under the write lock, so two processes opening a new file at once
    migrate it once.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = check_database(conn, where)
        for statements in MIGRATIONS[current:]:
            for statement in statements:
                conn.execute(statement)
        if current < SCHEMA_VERSION:
            conn.execute(f"DELETE FROM {VERSION_TABLE}")  # noqa: S608
            conn.execute(
                f"INSERT INTO {VERSION_TABLE} (version, migrated_at) VALUES (?, ?)",  # noqa: S608
                (SCHEMA_VERSION, now),
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
