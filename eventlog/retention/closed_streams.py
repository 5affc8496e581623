"""Retention: move finished streams out of the database into JSON Lines archives.

A stream is eligible once it is closed (its job reached a terminal state), its newest event
is older than the cutoff, and it has not been archived yet. Eligible streams are processed a
group at a time, each group as one maintenance action on the writer's thread (so appends
pause only for one group, and nothing can append to the group meanwhile):

1. read the group's events in seq order and split them into runs of consecutive seqs;
2. write them to a new archive file and fsync it (`eventlog.retention.archive.write_archive`); only
   a complete, durable archive allows the next step;
3. in one transaction, delete the events and snapshots, mark the streams archived (keeping
   their final version, so an id is never reused), and insert one checkpoint per run that
   records the run's first seq, the hash before it, its last hash, the archive's path and
   the archive's sha256.

`eventlog.sqlite.verify.verify` steps over each gap through its checkpoint and can check the archive
against it. A crash between steps 2 and 3 leaves an archive whose events are still in the
database: harmless, and the next run archives them again into a new file.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from eventlog.chain import GENESIS_HASH
from eventlog.errors import CorruptEventError
from eventlog.files import make_private_dir
from eventlog.records import prefix_range
from eventlog.retention.archive import ArchiveHeader, EventRow, runs_of, write_archive
from eventlog.sqlite.store import SQLiteEventLog


class RetentionReport(msgspec.Struct, kw_only=True):
    streams: int = 0
    events: int = 0
    checkpoints: int = 0
    archives: list[str] = msgspec.field(default_factory=list)


async def archive_closed_streams(
    log: SQLiteEventLog,
    *,
    older_than: float,
    directory: str | Path,
    prefix: str = "",
    group: int = 1000,
    clock: Callable[[], float] = time.time,
) -> RetentionReport:
    """Archive and delete every closed stream whose newest event is older than `older_than`.

    Args:
        log: the open event log.
        older_than: cutoff, in the log's clock (seconds since the epoch by default).
        directory: where archive files go (created if missing).
        prefix: only streams whose id starts with this.
        group: streams per archive file and per pause of the writer.
        clock: stamps the checkpoints and archive headers.

    Returns:
        What was archived, with the paths of the new archive files.
    """
    target = str(directory)
    report = RetentionReport()
    while True:

        def action(conn: sqlite3.Connection) -> tuple[int, int, int, str] | None:
            return _archive_group(conn, log.path, target, older_than, prefix, group, clock())

        done = await log.run_exclusive(action)
        if done is None:
            return report
        assert isinstance(done, tuple)
        streams, events, checkpoints, path = done
        report.streams += streams
        report.events += events
        report.checkpoints += checkpoints
        report.archives.append(path)


def _archive_group(
    conn: sqlite3.Connection,
    source: str,
    directory: str,
    older_than: float,
    prefix: str,
    group: int,
    now: float,
) -> tuple[int, int, int, str] | None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        streams = [
            str(r[0])
            for r in conn.execute(
                "SELECT s.stream_id FROM streams s WHERE s.closed = 1 AND s.archived_at IS NULL "
                "AND s.stream_id >= ? AND s.stream_id < ? AND coalesce((SELECT e.recorded_at "
                "FROM events e WHERE e.stream_id = s.stream_id ORDER BY e.version DESC LIMIT 1), "
                "s.updated_at) < ? ORDER BY s.stream_id LIMIT ?",
                (*prefix_range(prefix), older_than, group),
            )
        ]
        if not streams:
            conn.execute("ROLLBACK")
            return None
        marks = ", ".join("?" * len(streams))
        rows: list[EventRow] = [
            (int(r[0]), str(r[1]), int(r[2]), str(r[3]), float(r[4]), bytes(r[5]), bytes(r[6]))
            for r in conn.execute(
                "SELECT seq, stream_id, version, type, recorded_at, body, hash FROM events "
                f"WHERE stream_id IN ({marks}) ORDER BY seq",
                streams,
            )
        ]
        prev_hash_of = {seq: _hash_before(conn, seq) for seq in _run_starts(rows)}
        runs = runs_of(rows, prev_hash_of)
        first = rows[0][0] if rows else 0
        last = rows[-1][0] if rows else 0
        make_private_dir(directory)
        path = (
            Path(directory)
            / f"{Path(source).stem}-archive-{first:012d}-{last:012d}-{now:.6f}.jsonl"
        )
        header = ArchiveHeader(source=source, created_at=now, events=len(rows), runs=runs)
        sha = write_archive(path, header, rows)
        try:
            conn.execute(
                f"UPDATE streams SET archived_at = ?, version = max(version, coalesce((SELECT "
                f"max(e.version) FROM events e WHERE e.stream_id = streams.stream_id), 0)) "
                f"WHERE stream_id IN ({marks})",
                [now, *streams],
            )
            conn.execute(f"DELETE FROM events WHERE stream_id IN ({marks})", streams)
            conn.execute(f"DELETE FROM snapshots WHERE stream_id IN ({marks})", streams)
            conn.executemany(
                "INSERT INTO checkpoints (after_seq, hash, archived_to, removed, taken_at, "
                "first_seq, prev_hash, archive_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run.after_seq,
                        bytes.fromhex(run.hash),
                        str(path),
                        run.after_seq - run.first_seq + 1,
                        now,
                        run.first_seq,
                        bytes.fromhex(run.prev_hash),
                        sha,
                    )
                    for run in runs
                ],
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            os.unlink(path)  # nothing was deleted, so the archive is not needed
            raise
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return len(streams), len(rows), len(runs), str(path)


def _run_starts(rows: list[EventRow]) -> list[int]:
    return [row[0] for i, row in enumerate(rows) if i == 0 or rows[i - 1][0] != row[0] - 1]


def _hash_before(conn: sqlite3.Connection, seq: int) -> bytes:
    """The chain hash before `seq`: of the event at seq-1, or of the checkpoint ending there."""
    if seq == 1:
        return GENESIS_HASH
    row = conn.execute("SELECT hash FROM events WHERE seq = ?", (seq - 1,)).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT hash FROM checkpoints WHERE after_seq = ?", (seq - 1,)
        ).fetchone()
    if row is None:
        raise CorruptEventError(
            "cannot archive: neither an event nor a checkpoint holds the hash before this seq",
            seq=seq - 1,
        )
    return bytes(row[0])
