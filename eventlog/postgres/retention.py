"""Retention on PostgreSQL: finished streams moved out of the database into JSON Lines
archives, the same files and the same checkpoints as the SQLite log's
(`eventlog.retention.closed_streams`).

A group of eligible streams (closed, newest event older than the cutoff, not yet archived)
is archived in one transaction that first locks the `head` row, as every append batch does:
appends wait for the group, and no append can slip into a stream being archived. Inside it:
the group's events are read and written to a durable archive file (fsynced, renamed into
place); then the events and snapshots are deleted, the streams marked archived (keeping
their version, so an id is never reused), and one checkpoint per run of consecutive seqs
inserted, recording the run's first seq, the hash before it, its last hash, the archive's
path and sha256. `eventlog.postgres.verify` steps over each gap through its checkpoint. A
failed commit leaves an archive whose events are still in the database: the archive is
removed, and the next pass archives them again.

The fence holds here too: a log fenced to a leader archives only while that leader's lease
is current, so a deposed leader deletes nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eventlog.chain import GENESIS_HASH
from eventlog.errors import CorruptEventError
from eventlog.files import make_private_dir
from eventlog.postgres.store import PostgresEventLog
from eventlog.postgres.writer import FENCE, FencedOffError
from eventlog.records import prefix_range
from eventlog.retention.archive import ArchiveHeader, EventRow, runs_of, write_archive
from eventlog.retention.closed_streams import RetentionReport

_ELIGIBLE = (
    "SELECT s.stream_id FROM streams s WHERE s.closed AND s.archived_at IS NULL "
    "AND s.stream_id >= $1 AND ($2::text IS NULL OR s.stream_id < $2) "
    "AND coalesce((SELECT e.recorded_at FROM events e WHERE e.stream_id = s.stream_id "
    "ORDER BY e.version DESC LIMIT 1), s.updated_at) < $3 ORDER BY s.stream_id LIMIT $4"
)


async def archive_closed_streams_pg(
    log: PostgresEventLog,
    *,
    older_than: float,
    directory: str | Path,
    prefix: str = "",
    group: int = 1000,
    clock: Callable[[], float] = time.time,
) -> RetentionReport:
    """Archive and delete every closed stream whose newest event is older than `older_than`
    (the arguments and the report as `eventlog.retention.closed_streams`)."""
    report = RetentionReport()
    conn = await log._connect()
    try:
        while True:
            now = clock()
            done = await _archive_group(conn, log, str(directory), older_than, prefix, group, now)
            if done is None:
                return report
            streams, events, checkpoints, path = done
            report.streams += streams
            report.events += events
            report.checkpoints += checkpoints
            report.archives.append(path)
    finally:
        await conn.close()


async def _archive_group(
    conn: Any,
    log: PostgresEventLog,
    directory: str,
    older_than: float,
    prefix: str,
    group: int,
    now: float,
) -> tuple[int, int, int, str] | None:
    low, high = prefix_range(prefix)
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM head WHERE id = 1 FOR UPDATE")
        fence = log._writer.fence
        if fence is not None:
            row = await conn.fetchrow(FENCE)
            if row is None or (row[0], row[1]) != (fence.holder, fence.epoch) or not row[2]:
                raise FencedOffError(
                    f"{fence.holder} (epoch {fence.epoch}) no longer leads {log.path}: "
                    "retention archived nothing"
                )
        streams = [
            str(r[0])
            for r in await conn.fetch(
                _ELIGIBLE, low, high if isinstance(high, str) else None, older_than, group
            )
        ]
        if not streams:
            return None
        rows: list[EventRow] = [
            (int(r[0]), str(r[1]), int(r[2]), str(r[3]), float(r[4]), bytes(r[5]), bytes(r[6]))
            for r in await conn.fetch(
                "SELECT seq, stream_id, version, type, recorded_at, body, hash FROM events "
                "WHERE stream_id = ANY($1) ORDER BY seq",
                streams,
            )
        ]
        starts = [r[0] for i, r in enumerate(rows) if i == 0 or rows[i - 1][0] != r[0] - 1]
        prev_hash_of = {seq: await _hash_before(conn, seq) for seq in starts}
        runs = runs_of(rows, prev_hash_of)
        first = rows[0][0] if rows else 0
        last = rows[-1][0] if rows else 0
        make_private_dir(directory)
        database = log.url.rsplit("/", 1)[-1].split("?", 1)[0] or "postgres"
        path = Path(directory) / f"{database}-archive-{first:012d}-{last:012d}-{now:.6f}.jsonl"
        header = ArchiveHeader(source=log.path, created_at=now, events=len(rows), runs=runs)
        sha = write_archive(path, header, rows)
        try:
            await conn.execute(
                "UPDATE streams s SET archived_at = $2, version = greatest(s.version, "
                "coalesce((SELECT max(e.version) FROM events e WHERE e.stream_id = s.stream_id), "
                "0)) WHERE s.stream_id = ANY($1)",
                streams,
                now,
            )
            await conn.execute("DELETE FROM events WHERE stream_id = ANY($1)", streams)
            await conn.execute("DELETE FROM snapshots WHERE stream_id = ANY($1)", streams)
            await conn.executemany(
                "INSERT INTO checkpoints (after_seq, first_seq, hash, prev_hash, archived_to, "
                "archive_sha256, taken_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [
                    (
                        run.after_seq,
                        run.first_seq,
                        bytes.fromhex(run.hash),
                        bytes.fromhex(run.prev_hash),
                        str(path),
                        sha,
                        now,
                    )
                    for run in runs
                ],
            )
            # The writer caches stream versions; it reads them only after taking the head
            # lock we hold, so dropping them here makes its next batch look the streams up
            # again and find them archived.
            log._writer.versions.clear()
        except BaseException:
            os.unlink(path)  # nothing is deleted once the transaction rolls back
            raise
    return len(streams), len(rows), len(runs), str(path)


async def _hash_before(conn: Any, seq: int) -> bytes:
    """The chain hash before `seq`: of the event at seq-1, or of the checkpoint ending there."""
    if seq == 1:
        return GENESIS_HASH
    found = await conn.fetchval("SELECT hash FROM events WHERE seq = $1", seq - 1)
    if found is None:
        found = await conn.fetchval("SELECT hash FROM checkpoints WHERE after_seq = $1", seq - 1)
    if found is None:
        raise CorruptEventError(
            "cannot archive: neither an event nor a checkpoint holds the hash before this seq",
            seq=seq - 1,
        )
    return bytes(found)
