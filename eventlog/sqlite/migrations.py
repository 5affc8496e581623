"""The database file's schema and its migrations, keyed by `PRAGMA user_version`.

A new file gets the latest schema (`SCHEMA`) and `user_version = SCHEMA_VERSION` at once. An
older file is upgraded one step at a time, each step (N -> N+1) in its own transaction
together with its `user_version` bump, so a failed or interrupted upgrade leaves the file at
a version this code can still open. A file with a newer `user_version` than we know is
refused: we cannot know what its new columns mean, and writing to it could break it.

`PRAGMA application_id` marks files as ours, so another application's SQLite file is refused
instead of being "upgraded" into an event log.

History:
  1  walking skeleton: events, streams, snapshots, checkpoints, meta.
  2  `streams.archived_at` (retention keeps archived streams' versions so their ids are never
     reused); `checkpoints.first_seq`, `prev_hash`, `archive_sha256` (a checkpoint names the
     exact gap it covers and the archive file that holds it). `streams.version` is from here
     on written when a stream is created or closed; the current version is the larger of it
     and the stream's newest event, which stays correct for files written by version 1.
  3  `job_summaries`, the read model (`eventlog.sqlite.projection`). A migrated file gets the
     empty table and `meta.summaries = 'rebuild'`: filling it takes the job's fold, which the
     actors own, so the orchestrator's boot (or `druid-orch audit rebuild-summaries`) does.
  4  Every table `STRICT`, so a value of the wrong type is refused when written, not met when
     read (a log is evidence, and a BLOB column that holds an integer is an edit). Each table
     is copied into its strict twin and replaced; its indexes and triggers are made afresh.
     `meta.value` is `ANY`: it holds the head's bytes and text marks. Job summaries written
     from here on carry an array body (`eventlog.writes.summary_rows`); older map bodies
     still read.
  5  `job_phase_counts` is kept by the writer, per batch, instead of by three triggers that
     ran per row (`eventlog.sqlite.projection.schema.upsert`): the triggers are dropped and
     the counts taken afresh from the rows.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from eventlog.errors import CorruptEventError, EventLogUnavailableError, SchemaVersionError
from eventlog.sqlite.projection.schema import (
    DROP_COUNT_TRIGGERS,
    MARK_FOR_REBUILD,
    RECOUNT,
    TABLE,
)

SCHEMA_VERSION = 5
APPLICATION_ID = 0x44524F43  # "DROC"
# For new files only: SQLite fixes a file's page size when it is created. A group commit of
# a few hundred appends to as many streams rewrites most leaves of the (stream_id, version)
# index; 8 KiB pages hold twice the keys per leaf, so each commit writes fewer WAL frames
# (bench/RESULTS.md: about 10% more appends per second and a lower p99 than 4 KiB).
DEFAULT_PAGE_SIZE = 8192

SCHEMA = """
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    stream_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    type        TEXT    NOT NULL,
    body        BLOB    NOT NULL,
    recorded_at REAL    NOT NULL,
    hash        BLOB    NOT NULL,
    UNIQUE (stream_id, version)
) STRICT;
CREATE TABLE streams (
    stream_id   TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    closed      INTEGER NOT NULL DEFAULT 0,
    updated_at  REAL    NOT NULL,
    archived_at REAL
) STRICT;
CREATE INDEX streams_open ON streams (closed, stream_id);
CREATE TABLE snapshots (
    stream_id      TEXT PRIMARY KEY,
    version        INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    state          BLOB    NOT NULL,
    taken_at       REAL    NOT NULL
) STRICT;
CREATE TABLE checkpoints (
    after_seq      INTEGER PRIMARY KEY,
    hash           BLOB    NOT NULL,
    archived_to    TEXT    NOT NULL,
    removed        INTEGER NOT NULL,
    taken_at       REAL    NOT NULL,
    first_seq      INTEGER,
    prev_hash      BLOB,
    archive_sha256 TEXT
) STRICT;
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value ANY  NOT NULL
) STRICT;
"""
SCHEMA += TABLE

_TABLES = frozenset({"events", "streams", "snapshots", "checkpoints", "meta"})  # every version

# version N -> the SQL that takes a file from N to N+1
STEPS: dict[int, str] = {
    1: """
        ALTER TABLE streams ADD COLUMN archived_at REAL;
        ALTER TABLE checkpoints ADD COLUMN first_seq INTEGER;
        ALTER TABLE checkpoints ADD COLUMN prev_hash BLOB;
        ALTER TABLE checkpoints ADD COLUMN archive_sha256 TEXT;
        UPDATE checkpoints SET first_seq = after_seq - removed + 1;
    """,
    2: TABLE + MARK_FOR_REBUILD,
}
_CREATE_TABLE = re.compile(r"CREATE TABLE (\w+) \((.*?)\n\)([^;]*);", re.DOTALL)


def _to_strict(schema: str) -> str:
    """The step that replaces every table of `schema` by its STRICT twin, data kept."""
    copies, rest = [], _CREATE_TABLE.sub("", schema)
    for name, body, options in _CREATE_TABLE.findall(schema):
        columns = [
            line.split()[0]
            for line in body.strip().splitlines()
            if line.strip() and not line.strip().startswith(("UNIQUE", "PRIMARY"))
        ]
        names = ", ".join(columns)
        copies.append(
            f"CREATE TABLE {name}__strict ({body}\n){options};"
            f"INSERT INTO {name}__strict ({names}) SELECT {names} FROM {name};"
            f"DROP TABLE {name};ALTER TABLE {name}__strict RENAME TO {name};"
        )
    return "".join(copies) + rest


STEPS[3] = _to_strict(SCHEMA)
STEPS[4] = DROP_COUNT_TRIGGERS + "".join(f"{statement};" for statement in RECOUNT)


def prepare(conn: sqlite3.Connection, path: str, page_size: int = DEFAULT_PAGE_SIZE) -> None:
    """Create the schema in a new file, or check and upgrade an existing one.

    Runs on the writer's connection before anything else uses the file. `page_size` applies
    to a new file only; an existing file keeps the page size it was created with.

    Raises:
        CorruptEventError: the file belongs to another application or has no known version.
        SchemaVersionError: the file was written by a newer druid-orchestrator.
        EventLogUnavailableError: the upgrade could not be written (read-only, disk full).
    """
    user_version = identify(conn, path)
    if user_version == 0:
        # Before WAL mode: a WAL file's page size can no longer change.
        conn.execute(f"PRAGMA page_size = {page_size}")
        conn.execute("PRAGMA journal_mode = WAL")
        _run_script(
            conn,
            SCHEMA + f"PRAGMA application_id = {APPLICATION_ID};"
            f"PRAGMA user_version = {SCHEMA_VERSION};",
            f"create the event log schema in {path}",
        )
        return
    migrate(conn, user_version, SCHEMA_VERSION, path)


def identify(conn: sqlite3.Connection, path: str) -> int:
    """The file's schema version, 0 for a new (empty) file; reads only, writes nothing.

    Raises:
        CorruptEventError: the file belongs to another application or has no known version.
        SchemaVersionError: the file was written by a newer druid-orchestrator.
    """
    app_id = int(_scalar(conn, "PRAGMA application_id"))
    user_version = int(_scalar(conn, "PRAGMA user_version"))
    tables = int(_scalar(conn, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"))
    if app_id == 0 and user_version == 0 and tables == 0:
        return 0
    if app_id != APPLICATION_ID:
        raise CorruptEventError(
            f"{path} is an SQLite file of another application (application_id={app_id}, "
            f"{tables} tables); refusing to use it as an event log"
        )
    if user_version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path} has schema version {user_version}, newer than this druid-orchestrator "
            f"understands ({SCHEMA_VERSION}); upgrade druid-orchestrator to open it"
        )
    if user_version < 1:
        raise CorruptEventError(
            f"{path} is marked as an event log but has no schema version (user_version=0); "
            "it was damaged or not written by druid-orchestrator"
        )
    names = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = sorted(_TABLES - names)
    if missing:
        raise CorruptEventError(
            f"{path} is marked as an event log (schema version {user_version}) but has no "
            f"{', '.join(missing)} table; it was damaged or edited outside druid-orchestrator"
        )
    return user_version


def migrate(conn: sqlite3.Connection, current: int, target: int, path: str = "") -> None:
    """Upgrade the file from `current` to `target`, one transaction per version."""
    for version in range(current, target):
        _run_script(
            conn,
            STEPS[version] + f";PRAGMA user_version = {version + 1};",
            f"upgrade {path} from schema version {version} to {version + 1}",
        )


def _run_script(conn: sqlite3.Connection, script: str, what: str) -> None:
    try:
        conn.executescript(f"BEGIN IMMEDIATE;{script}COMMIT;")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise EventLogUnavailableError(f"could not {what}: {exc}") from exc


def _scalar(conn: sqlite3.Connection, sql: str) -> Any:
    return conn.execute(sql).fetchone()[0]
