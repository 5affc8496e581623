"""Moving to HA keeps history: copy every event of a SQLite log into an empty PostgreSQL log.

Events go over verbatim (seq, stream, version, type, body, time and stored hash), so the
chain is the same chain; the target is then verified from its first event to its head, and
the copy is rolled back unless it verifies. Summaries go over as rows (they are derived, and
`audit verify` checks them against the events on either backend). Snapshots do not: they
are an optimisation, rebuilt by the next boot. A target that holds any event is refused.

A log thinned by retention goes over too: its checkpoints (which carry the chain across
each archived run), its streams' archived marks (so an archived id still takes no event)
and its head (which may lie in a checkpoint, when the newest events were archived). The
archive files stay where they are; the checkpoints name them by the paths they were
written to, so `audit verify --archives` on the target checks them there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

import asyncpg

from eventlog.chain import decode_head
from eventlog.chain_report import ChainReport
from eventlog.errors import EventLogError
from eventlog.postgres.schema import migrate
from eventlog.postgres.urls import redacted
from eventlog.postgres.verify import verify
from eventlog.postgres.writer import INSERT_EVENTS, UPSERT_SUMMARIES, columns

EventRow = tuple[int, str, int, str, bytes, float, bytes]
_CHUNK = 5000
_INSERT_CHECKPOINTS = (
    "INSERT INTO checkpoints (after_seq, first_seq, hash, prev_hash, archived_to, "
    "archive_sha256, taken_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
)


class SqliteEvents:
    """A SQLite log's events by chunk, with what retention left in place of the archived
    ones: its checkpoints and its head `(seq, hash)`."""

    def __init__(
        self,
        chunks: Iterator[list[EventRow]],
        checkpoints: list[tuple[Any, ...]],
        head: tuple[int, bytes] | None,
    ) -> None:
        self._chunks = chunks
        self.checkpoints = checkpoints
        self.head = head

    def __iter__(self) -> Iterator[list[EventRow]]:
        return self._chunks


class CopyRefusedError(EventLogError):
    """The copy was refused before anything was written (a non-empty target, say)."""


def sqlite_rows(path: str) -> tuple[SqliteEvents, list[tuple[Any, ...]], list[Any]]:
    """The events (by chunk, with retention's checkpoints and the head), streams (with
    their archived marks) and summary rows of the SQLite log at `path`."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    head = conn.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()
    head_seq, head_hash = decode_head(head[0]) if head is not None else (0, b"")
    checkpoints = [
        (int(a), int(f), bytes(h), p if p is None else bytes(p), str(to), sha, float(at))
        for a, f, h, p, to, sha, at in conn.execute(
            "SELECT after_seq, coalesce(first_seq, after_seq - removed + 1), hash, prev_hash, "
            "archived_to, archive_sha256, taken_at FROM checkpoints ORDER BY after_seq"
        )
    ]
    streams = conn.execute(
        "SELECT s.stream_id, max(s.version, coalesce((SELECT max(e.version) FROM events e "
        "WHERE e.stream_id = s.stream_id), 0)), s.closed != 0, s.updated_at, s.archived_at "
        "FROM streams s"
    ).fetchall()
    summaries = conn.execute(
        "SELECT job_id, stream_id, datasource, interval_start, interval_end, phase, position, "
        "changed_at, body FROM job_summaries"
    ).fetchall()

    def events() -> Iterator[list[EventRow]]:
        last = 0
        try:
            while True:
                rows = conn.execute(
                    "SELECT seq, stream_id, version, type, body, recorded_at, hash FROM events "
                    "WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                    (last, head_seq, _CHUNK),
                ).fetchall()
                if not rows:
                    return
                last = rows[-1][0]
                yield [(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], bytes(r[6])) for r in rows]
        finally:
            conn.close()

    return (
        SqliteEvents(events(), checkpoints, (head_seq, bytes(head_hash)) if head else None),
        streams,
        summaries,
    )


def _stream_row(s: tuple[Any, ...]) -> tuple[Any, ...]:
    """(id, version, closed, updated_at, archived_at); a row without the last: not archived."""
    return (s[0], s[1], bool(s[2]), s[3], s[4] if len(s) > 4 else None)


async def copy_into(
    url: str,
    events: Iterable[list[EventRow]],
    streams: list[tuple[Any, ...]],
    summaries: list[Any],
    *,
    password: str | None = None,
) -> ChainReport:
    """Write `events` (seq order), `streams` and `summaries` into the empty log at `url`, in
    one transaction committed only if the copied chain verifies.

    Raises:
        CopyRefusedError: the target already holds events.
        CorruptEventError: the copied chain does not verify (nothing is kept).
    """
    where = redacted(url)
    conn = await asyncpg.connect(url, password=password)
    try:
        await migrate(conn, where)
        async with conn.transaction():
            head = await conn.fetchval("SELECT seq FROM head WHERE id = 1 FOR UPDATE")
            if head or await conn.fetchval("SELECT count(*) FROM streams"):
                raise CopyRefusedError(
                    f"{where} already holds an event log (head seq {head}): "
                    "`eventlog copy` writes only into an empty one"
                )
            seq, last_hash = 0, b"\x00" * 32
            for rows in events:
                await conn.execute(INSERT_EVENTS, *columns(rows, 7))
                seq, last_hash = rows[-1][0], rows[-1][6]
            checkpoints = getattr(events, "checkpoints", [])
            if checkpoints:
                await conn.executemany(_INSERT_CHECKPOINTS, checkpoints)
            # With the newest events archived, the head is only in the source's head record.
            head_of = getattr(events, "head", None)
            if head_of is not None and head_of[0] > seq:
                seq, last_hash = head_of
            await conn.execute("UPDATE head SET seq = $1, hash = $2 WHERE id = 1", seq, last_hash)
            if streams:
                await conn.execute(
                    "INSERT INTO streams (stream_id, version, closed, updated_at, archived_at) "
                    "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bool[], $4::float8[], "
                    "$5::float8[])",
                    *columns([_stream_row(s) for s in streams], 5),
                )
            if summaries:
                await conn.execute(UPSERT_SUMMARIES, *columns([tuple(r) for r in summaries], 9))
            report = await verify(conn, where)
            report.raise_if_broken()
        return report
    finally:
        await conn.close()
