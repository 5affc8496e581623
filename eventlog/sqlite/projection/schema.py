"""The `job_summaries` table of the SQLite log: its DDL, the writer's upsert, the rebuild.

Written by the writer in the transaction of the append it reflects (`eventlog.sqlite.writer`),
so the table is exactly as current as the events; its rows are encoded by
`eventlog.writes.summary_rows`. `meta` key `summaries` = `rebuild` says the table was created for a
log that already had events (a migration) and is not filled yet: queries then refuse
(`SummariesNotBuiltError`) rather than answer from an empty table, until `replace_all` fills
it from a fold of the streams.

`job_phase_counts` is kept by the writer in the same transactions (`upsert`), so the
jobs-by-phase gauge is a read of a dozen rows, not a scan of every job. The writer moves it
once per phase per batch, from the batch's old phases read in one statement: the triggers
that kept it until schema 5 ran a trigger program per row, a sixth of the writer's time per
append (bench/RESULTS.md, "Issue 20"). Rows are only ever deleted by `replace_all`, which
counts afresh.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence

from eventlog.chain import decode_head
from eventlog.sqlite.statements import insert_rows
from eventlog.writes.summary_rows import COLUMNS, Row

TABLE = """
CREATE TABLE job_summaries (
    job_id         TEXT PRIMARY KEY,
    stream_id      TEXT    NOT NULL,
    datasource     TEXT    NOT NULL,
    interval_start TEXT    NOT NULL,
    interval_end   TEXT    NOT NULL,
    phase          TEXT    NOT NULL,
    position       INTEGER NOT NULL,
    changed_at     REAL    NOT NULL,
    body           BLOB    NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX job_summaries_phase ON job_summaries (phase, job_id);
CREATE INDEX job_summaries_datasource ON job_summaries (datasource, phase, job_id);
CREATE INDEX job_summaries_interval ON job_summaries (datasource, interval_start, interval_end);
CREATE INDEX job_summaries_position ON job_summaries (position);
CREATE TABLE job_phase_counts (
    phase TEXT PRIMARY KEY,
    jobs  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
"""
# For a log that had events before the table existed: filled by the first rebuild.
MARK_FOR_REBUILD = "INSERT OR REPLACE INTO meta (key, value) VALUES ('summaries', 'rebuild');"
REBUILD_KEY = "summaries"

_NAMES = [c.strip() for c in COLUMNS.split(",")]
_UPSERT_HEAD = f"INSERT INTO job_summaries ({COLUMNS}) VALUES "


def _upsert(changing: tuple[str, ...]) -> tuple[str, int, str]:
    updates = ", ".join(f"{c} = excluded.{c}" for c in changing)
    return (_UPSERT_HEAD, len(_NAMES), f" ON CONFLICT (job_id) DO UPDATE SET {updates}")


# A job's stream, datasource and interval never change, so an update names only what does:
# SQLite rewrites an index entry when its columns are named in SET, changed or not. A row
# whose phase stays is written without naming it (`_UPSERT_SAME_PHASE`), which leaves its
# two phase index entries alone: about 2 us less per row (bench/RESULTS.md, "Issue 20").
UPSERT = _upsert(("phase", "position", "changed_at", "body"))
_UPSERT_SAME_PHASE = _upsert(("position", "changed_at", "body"))


# The schema-4 triggers, dropped from schema 5 on (the writer counts instead); kept as text
# for the migration's tests and the writer benchmark, which build a schema-4 file.
SCHEMA_4_COUNT_TRIGGERS = """
CREATE TRIGGER job_summaries_counted AFTER INSERT ON job_summaries BEGIN
    INSERT INTO job_phase_counts (phase, jobs) VALUES (new.phase, 1)
        ON CONFLICT (phase) DO UPDATE SET jobs = jobs + 1;
END;
CREATE TRIGGER job_summaries_recounted AFTER UPDATE OF phase ON job_summaries
WHEN old.phase <> new.phase BEGIN
    UPDATE job_phase_counts SET jobs = jobs - 1 WHERE phase = old.phase;
    INSERT INTO job_phase_counts (phase, jobs) VALUES (new.phase, 1)
        ON CONFLICT (phase) DO UPDATE SET jobs = jobs + 1;
END;
CREATE TRIGGER job_summaries_uncounted AFTER DELETE ON job_summaries BEGIN
    UPDATE job_phase_counts SET jobs = jobs - 1 WHERE phase = old.phase;
END;
"""
DROP_COUNT_TRIGGERS = """
DROP TRIGGER IF EXISTS job_summaries_counted;
DROP TRIGGER IF EXISTS job_summaries_recounted;
DROP TRIGGER IF EXISTS job_summaries_uncounted;
"""
RECOUNT = (
    "DELETE FROM job_phase_counts",
    "INSERT INTO job_phase_counts (phase, jobs) "
    "SELECT phase, count(*) FROM job_summaries GROUP BY phase",
)
_OLD_PHASES = "SELECT job_id, phase FROM job_summaries WHERE job_id IN ({})"
_COUNT = (
    "INSERT INTO job_phase_counts (phase, jobs) VALUES ",
    2,
    " ON CONFLICT (phase) DO UPDATE SET jobs = jobs + excluded.jobs",
)
_PHASE = _NAMES.index("phase")
_CHUNK = 500


def upsert(
    conn: sqlite3.Connection, rows: Sequence[Row], known: Mapping[str, str]
) -> dict[str, str]:
    """Write a batch's rows and move `job_phase_counts` by what they change, inside the
    transaction the caller holds open; returns each row's job id and phase.

    `known` is the caller's cache of the phases its commits left (job id -> phase), which
    must be exactly what the table holds for those jobs: the phases of the other jobs of
    the batch are read in one statement, before the upsert. The rows whose phase stays are
    upserted apart, without touching the phase indexes. The counts move in at most one more
    statement, for the phases that gained or lost jobs.
    """
    phases = {r[0]: known[r[0]] for r in rows if r[0] in known}
    missing = [r[0] for r in rows if r[0] not in phases]
    for start in range(0, len(missing), _CHUNK):
        ids = missing[start : start + _CHUNK]
        phases.update(conn.execute(_OLD_PHASES.format(", ".join("?" * len(ids))), ids))
    moved: dict[str, int] = {}
    changing: list[Row] = []
    staying: list[Row] = []
    once = len({r[0] for r in rows}) == len(rows)  # else one statement keeps their order
    for row in rows:
        # In order, so that a job named twice in a batch is counted as its upsert writes it.
        job_id, new = row[0], row[_PHASE]
        old = phases.get(job_id)
        if old == new and once:
            staying.append(row)
            continue
        changing.append(row)
        if old != new:
            if old is not None:
                moved[old] = moved.get(old, 0) - 1
            moved[new] = moved.get(new, 0) + 1
            phases[job_id] = new
    insert_rows(conn, UPSERT, changing)
    insert_rows(conn, _UPSERT_SAME_PHASE, staying)
    counts = [(phase, n) for phase, n in sorted(moved.items()) if n]
    if counts:
        insert_rows(conn, _COUNT, counts)
    return phases


def needs_rebuild(conn: sqlite3.Connection) -> bool:
    """Whether the table awaits its first fill (a log migrated from before it existed)."""
    found = conn.execute("SELECT value FROM meta WHERE key = ?", (REBUILD_KEY,)).fetchone()
    return found is not None


def replace_all(
    conn: sqlite3.Connection, rows: Iterable[Row], through_seq: int
) -> tuple[bool, int]:
    """Replace every row but archived jobs' with `rows`, folded from the log up to
    `through_seq`, in one transaction, and clear the rebuild mark.

    Archived jobs keep their rows: their events are in archive files, not here, so a fold of
    the log cannot recompute them. Returns `(done, head_seq)`: not done when the log has
    moved past `through_seq` since the fold (the caller folds again).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        head = conn.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()
        head_seq = decode_head(head[0])[0] if head is not None else 0
        if head_seq != through_seq:
            conn.execute("ROLLBACK")
            return False, head_seq
        conn.execute(
            "DELETE FROM job_summaries WHERE stream_id NOT IN "
            "(SELECT stream_id FROM streams WHERE archived_at IS NOT NULL)"
        )
        insert_rows(conn, UPSERT, list(rows))
        for statement in RECOUNT:  # the DELETE and the plain insert moved no count
            conn.execute(statement)
        conn.execute("DELETE FROM meta WHERE key = ?", (REBUILD_KEY,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return True, head_seq
