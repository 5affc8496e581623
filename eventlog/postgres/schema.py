"""The PostgreSQL log's tables, and the migrations that create and upgrade them.

The tables mirror the SQLite file's (docs/eventlog.md), with three differences: every id
column is `COLLATE "C"`, so text orders by code point as in SQLite whatever the database's
locale (cursors and prefix ranges rely on it); a stream's row carries its current version
(updated by every append, where SQLite derives it from the events); and `leadership` holds
the lease of the one daemon that may append (docs/ha.md). `orch_schema` records which
migrations have run; they run under a transaction-scoped advisory lock, so daemons started
together migrate once.
"""

from __future__ import annotations

from typing import Any

from eventlog.errors import SchemaVersionError

# Key of the advisory lock migrations hold (any constant: it names nothing else).
_MIGRATION_LOCK = 0x44524F43

_V1 = """
CREATE TABLE events (
    seq         bigint PRIMARY KEY,
    stream_id   text COLLATE "C" NOT NULL,
    version     bigint NOT NULL,
    type        text NOT NULL,
    body        bytea NOT NULL,
    recorded_at double precision NOT NULL,
    hash        bytea NOT NULL,
    UNIQUE (stream_id, version)
);
CREATE TABLE streams (
    stream_id   text COLLATE "C" PRIMARY KEY,
    version     bigint NOT NULL,
    closed      boolean NOT NULL DEFAULT false,
    updated_at  double precision NOT NULL,
    archived_at double precision
);
CREATE INDEX streams_open ON streams (stream_id) WHERE NOT closed;
CREATE TABLE snapshots (
    stream_id      text COLLATE "C" PRIMARY KEY,
    version        bigint NOT NULL,
    schema_version integer NOT NULL,
    state          bytea NOT NULL,
    taken_at       double precision NOT NULL
);
CREATE TABLE head (
    id   integer PRIMARY KEY CHECK (id = 1),
    seq  bigint NOT NULL,
    hash bytea NOT NULL
);
INSERT INTO head VALUES (1, 0, decode(repeat('00', 32), 'hex'));
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE job_summaries (
    job_id         text COLLATE "C" PRIMARY KEY,
    stream_id      text COLLATE "C" NOT NULL,
    datasource     text COLLATE "C" NOT NULL,
    interval_start text COLLATE "C" NOT NULL,
    interval_end   text COLLATE "C" NOT NULL,
    phase          text COLLATE "C" NOT NULL,
    position       bigint NOT NULL,
    changed_at     double precision NOT NULL,
    body           bytea NOT NULL
);
CREATE INDEX job_summaries_phase ON job_summaries (phase, job_id);
CREATE INDEX job_summaries_datasource ON job_summaries (datasource, phase, job_id);
CREATE INDEX job_summaries_interval ON job_summaries (datasource, interval_start, interval_end);
CREATE INDEX job_summaries_position ON job_summaries (position);
CREATE TABLE job_phase_counts (phase text COLLATE "C" PRIMARY KEY, jobs bigint NOT NULL);
CREATE FUNCTION job_phase_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE job_phase_counts SET jobs = jobs - 1 WHERE phase = OLD.phase;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO job_phase_counts VALUES (NEW.phase, 1)
            ON CONFLICT (phase) DO UPDATE SET jobs = job_phase_counts.jobs + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER job_summaries_counted AFTER INSERT OR DELETE ON job_summaries
    FOR EACH ROW EXECUTE FUNCTION job_phase_count();
CREATE TRIGGER job_summaries_recounted AFTER UPDATE OF phase ON job_summaries
    FOR EACH ROW WHEN (OLD.phase IS DISTINCT FROM NEW.phase) EXECUTE FUNCTION job_phase_count();
CREATE TABLE leadership (
    id            integer PRIMARY KEY CHECK (id = 1),
    holder        text,
    epoch         bigint NOT NULL CHECK (epoch >= 0),
    expires_at    timestamptz,
    advertise_url text,
    acquired_at   timestamptz
);
INSERT INTO leadership (id, epoch) VALUES (1, 0);
"""

# Retention (eventlog/postgres/retention.py): each run of consecutive seqs archived away is
# replaced by a checkpoint that carries the chain across the gap, as in the SQLite file
# (prev_hash and archive_sha256 may be NULL only in checkpoints copied from an old SQLite log).
_V2 = """
CREATE TABLE checkpoints (
    after_seq      bigint PRIMARY KEY,
    first_seq      bigint NOT NULL,
    hash           bytea NOT NULL,
    prev_hash      bytea,
    archived_to    text NOT NULL,
    archive_sha256 text,
    taken_at       double precision NOT NULL
);
"""

# The jobs-by-phase counts, moved once per statement rather than once per row: V1's row
# triggers updated the same few count rows once for every summary row written, one tuple
# version each, so a full rewrite of 20,000 rows took 17 s (each update walks the versions
# its transaction already left) and every append batch paid a count update per job whose
# phase changed. Each trigger now gets the statement's rows as transition tables and applies
# one grouped delta per phase. A trigger with transition tables takes one event, hence three;
# an `INSERT … ON CONFLICT DO UPDATE` fires both the INSERT and the UPDATE one, the first
# seeing the rows it inserted and the second the rows it updated, so each row counts once.
# An UPDATE that keeps a row's phase nets to zero and writes nothing. The counts are taken
# afresh from the rows: DROP TRIGGER locks `job_summaries` until the migration commits, so
# no write falls between the count and the new triggers.
_V3 = """
DROP TRIGGER job_summaries_counted ON job_summaries;
DROP TRIGGER job_summaries_recounted ON job_summaries;
DROP FUNCTION job_phase_count();
CREATE FUNCTION job_phase_delta() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO job_phase_counts AS c (phase, jobs)
            SELECT phase, count(*) FROM added GROUP BY phase
            ON CONFLICT (phase) DO UPDATE SET jobs = c.jobs + excluded.jobs;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO job_phase_counts AS c (phase, jobs)
            SELECT phase, -count(*) FROM removed GROUP BY phase
            ON CONFLICT (phase) DO UPDATE SET jobs = c.jobs + excluded.jobs;
    ELSE
        INSERT INTO job_phase_counts AS c (phase, jobs)
            SELECT phase, sum(delta) FROM (
                SELECT phase, 1 AS delta FROM added
                UNION ALL SELECT phase, -1 FROM removed
            ) moved GROUP BY phase HAVING sum(delta) <> 0
            ON CONFLICT (phase) DO UPDATE SET jobs = c.jobs + excluded.jobs;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER job_summaries_inserted AFTER INSERT ON job_summaries
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION job_phase_delta();
CREATE TRIGGER job_summaries_updated AFTER UPDATE ON job_summaries
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION job_phase_delta();
CREATE TRIGGER job_summaries_deleted AFTER DELETE ON job_summaries
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION job_phase_delta();
DELETE FROM job_phase_counts;
INSERT INTO job_phase_counts SELECT phase, count(*) FROM job_summaries GROUP BY phase;
"""

# Each entry upgrades the schema by one version; append, never edit (a stored log is permanent).
# A new database runs them all in order, so its schema is the migrated one by construction.
MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)


async def migrate(conn: Any, where: str) -> int:
    """Bring the schema of the database `conn` is on up to `SCHEMA_VERSION`.

    Returns the version it was at (0 for an empty database).

    Raises:
        SchemaVersionError: the database was written by a newer druid-orchestrator.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS orch_schema (version integer PRIMARY KEY, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        found = int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM orch_schema"))
        if found > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{where} holds an event log of schema version {found}, newer than this "
                f"druid-orchestrator's {SCHEMA_VERSION}: upgrade druid-orchestrator"
            )
        for version in range(found + 1, SCHEMA_VERSION + 1):
            await conn.execute(MIGRATIONS[version - 1])
            await conn.execute("INSERT INTO orch_schema (version) VALUES ($1)", version)
    return found
