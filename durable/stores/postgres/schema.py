"""The PostgreSQL schema: its migrations, and the checks that run before anything is written.

durable keeps its tables in a schema of their own (``durable`` unless the URL says
``?schema=name``), next to whatever else the database holds. Times are ``timestamptz`` of the
database's clock (``now()``), so workers on hosts with skewed clocks agree on leases and due
times. Payloads are ``text`` (not ``jsonb``, which would reorder keys): they round-trip exactly.

An activity row's ``visible_at`` is also its lease expiry while leased (as in SQLite), so
"claimable" is ``visible_at <= now()`` and one index serves the claim.
"""

from __future__ import annotations

import asyncpg

from ..._errors import StoreError

#: the table that marks a schema as durable's and holds its version
VERSION_TABLE = "schema_version"
#: the advisory lock key migrations hold (any constant; "durable" in ASCII, truncated)
_MIGRATION_LOCK = 0x647572616265

_V1 = (
    f"CREATE TABLE {VERSION_TABLE} (version integer NOT NULL, migrated_at timestamptz NOT NULL)",
    """CREATE TABLE instances (
        instance_id text PRIMARY KEY,
        name text NOT NULL,
        status text NOT NULL,
        input text NOT NULL,
        output text,
        error text,
        custom_status text,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        execution_id integer NOT NULL,
        version integer NOT NULL,
        parent_instance_id text,
        parent_task_id integer,
        parent_execution_id integer,
        retry text,
        attempt integer NOT NULL DEFAULT 1,
        lease_owner text,
        lease_expires_at timestamptz,
        ready_at timestamptz NOT NULL DEFAULT 'epoch',
        start_token text
    )""",
    "CREATE INDEX instances_created ON instances (created_at)",
    "CREATE INDEX instances_status ON instances (status, created_at)",
    "CREATE INDEX instances_name ON instances (name, created_at)",
    "CREATE INDEX instances_updated ON instances (updated_at)",
    """CREATE INDEX instances_parent ON instances (parent_instance_id)
        WHERE parent_instance_id IS NOT NULL""",
    "CREATE INDEX instances_lease ON instances (lease_owner) WHERE lease_owner IS NOT NULL",
    "CREATE INDEX instances_ready ON instances (ready_at) WHERE ready_at > 'epoch'",
    # the primary key is the split-brain guard: a second writer of one seq fails
    """CREATE TABLE history (
        instance_id text NOT NULL,
        seq integer NOT NULL,
        kind text NOT NULL,
        data text NOT NULL,
        PRIMARY KEY (instance_id, seq)
    )""",
    # identity ids never come back, so an id held by a stale worker never names a newer message
    """CREATE TABLE inbox (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        instance_id text NOT NULL,
        execution_id integer,
        kind text NOT NULL,
        task_id integer,
        data text NOT NULL,
        visible_at timestamptz NOT NULL
    )""",
    "CREATE INDEX inbox_visible ON inbox (visible_at)",
    "CREATE INDEX inbox_instance ON inbox (instance_id, visible_at)",
    """CREATE TABLE activities (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        instance_id text NOT NULL,
        execution_id integer NOT NULL,
        task_id integer NOT NULL,
        name text NOT NULL,
        queue text NOT NULL,
        input text NOT NULL,
        attempt integer NOT NULL DEFAULT 0,
        retry text,
        timeout double precision,
        heartbeat_timeout double precision,
        start_deadline timestamptz,
        heartbeat_details text,
        scheduled_at timestamptz NOT NULL,
        visible_at timestamptz NOT NULL,
        lease_owner text,
        started boolean NOT NULL DEFAULT false
    )""",
    "CREATE INDEX activities_claim ON activities (queue, visible_at)",
    "CREATE INDEX activities_due ON activities (visible_at) WHERE lease_owner IS NULL",
    "CREATE INDEX activities_instance ON activities (instance_id)",
    "CREATE INDEX activities_lease ON activities (lease_owner) WHERE lease_owner IS NOT NULL",
    """CREATE INDEX activities_unstarted ON activities (start_deadline)
        WHERE NOT started AND start_deadline IS NOT NULL""",
)

# Version 2: the lease-owner indexes go. They served renewing every lease a worker held; leases
# are renewed by id now, and every query on lease_owner also names a primary key, so they only
# cost each claim and commit an index page to write.
_V2 = (
    "DROP INDEX instances_lease",
    "DROP INDEX activities_lease",
)

# Version 3: an instance counts the claims of its episodes since its last commit (the poison
# episode cap, DESIGN 4a; see the SQLite schema).
_V3 = ("ALTER TABLE instances ADD COLUMN claims integer NOT NULL DEFAULT 0",)

# Version 4: workers announce themselves (DESIGN 7), and an instance keeps the trace context
# of the start that made it (DESIGN 7a), in tables of their own.
_V4 = (
    """CREATE TABLE workers (
        worker_id text PRIMARY KEY,
        host text NOT NULL,
        pid integer NOT NULL,
        queues text NOT NULL,
        orchestrators text NOT NULL,
        activities text NOT NULL,
        started_at timestamptz NOT NULL,
        last_seen timestamptz NOT NULL
    )""",
    "CREATE TABLE traces (instance_id text PRIMARY KEY, context text NOT NULL)",
)

# Version 5: an instance's durable streams (each key's values numbered from 0) and the answers
# to its updates, kept for the clients that read them (DESIGN 4a).
_V5 = (
    """CREATE TABLE streams (
        instance_id text NOT NULL,
        key text NOT NULL,
        position bigint NOT NULL,
        value text NOT NULL,
        PRIMARY KEY (instance_id, key, position)
    )""",
    """CREATE TABLE update_results (
        instance_id text NOT NULL,
        update_id text NOT NULL,
        result text,
        rejection text,
        PRIMARY KEY (instance_id, update_id)
    )""",
)

# Version 6: flow control and time (DESIGN 4, 4a; see the SQLite schema): tags (JSON on the
# row, indexed newest first per tag in ``tags``), inherited and per-call priority and fairness
# key, the declared queues' rate windows and fairness turns, and the schedules' state.
_V6 = (
    "ALTER TABLE instances ADD COLUMN tags text",
    "ALTER TABLE instances ADD COLUMN priority integer",
    "ALTER TABLE instances ADD COLUMN fairness_key text",
    "ALTER TABLE activities ADD COLUMN priority integer",
    "ALTER TABLE activities ADD COLUMN fairness_key text",
    """CREATE TABLE tags (
        key text NOT NULL,
        value text NOT NULL,
        created_at timestamptz NOT NULL,
        instance_id text NOT NULL,
        PRIMARY KEY (key, value, created_at, instance_id)
    )""",
    "CREATE INDEX tags_instance ON tags (instance_id)",
    "CREATE TABLE queue_starts (queue text NOT NULL, started_at timestamptz NOT NULL)",
    "CREATE INDEX queue_starts_at ON queue_starts (queue, started_at)",
    """CREATE TABLE queue_turns (
        queue text NOT NULL,
        fairness_key text NOT NULL,
        turn bigint NOT NULL,
        PRIMARY KEY (queue, fairness_key)
    )""",
    """CREATE TABLE schedules (
        schedule_id text PRIMARY KEY,
        definition text NOT NULL,
        paused boolean NOT NULL DEFAULT false,
        last_slot bigint NOT NULL
    )""",
)

#: MIGRATIONS[n] takes a schema from version n to n + 1 (all run in one transaction)
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4, _V5, _V6)
SCHEMA_VERSION = len(MIGRATIONS)


async def check_schema(conn: asyncpg.Connection, schema: str, where: str) -> int:
    """The durable version of ``schema`` (0 when it is missing or empty), reading only.

    Refuses, touching nothing, a schema holding other tables and a newer durable schema.
    """
    tables = {
        row[0]
        for row in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
        )
    }
    if not tables:
        return 0
    if VERSION_TABLE not in tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(
            f"{where}: schema {schema!r} is not durable's: it holds other tables ({shown}) and "
            f"no {VERSION_TABLE} table; refusing to touch it (use ?schema=another_name)"
        )
    version = int(await conn.fetchval(f"SELECT max(version) FROM {VERSION_TABLE}") or 0)  # noqa: S608
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{where}: schema {schema!r} has durable schema version {version}, newer than this "
            f"version of durable knows ({SCHEMA_VERSION}); upgrade durable to open it"
        )
    return version


async def prepare(conn: asyncpg.Connection, schema: str, where: str) -> None:
    """Create or migrate the schema, in the caller's transaction, once across processes.

    The version is checked read-only first (a foreign or newer schema is refused untouched),
    then again under a transaction-scoped advisory lock, so workers starting together migrate
    once and the others wait for it.
    """
    if await check_schema(conn, schema, where) == SCHEMA_VERSION:
        return
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
    current = await check_schema(conn, schema, where)
    if current == SCHEMA_VERSION:
        return
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for statements in MIGRATIONS[current:]:
        for statement in statements:
            await conn.execute(statement)
    await conn.execute(f"DELETE FROM {VERSION_TABLE}")  # noqa: S608
    await conn.execute(
        f"INSERT INTO {VERSION_TABLE} (version, migrated_at) VALUES ($1, now())",  # noqa: S608
        SCHEMA_VERSION,
    )
