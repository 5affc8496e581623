"""Moving to HA keeps history: copy every event of a SQLite log into an empty PostgreSQL log.

Events go over verbatim (seq, stream, version, type, body, time and stored hash), so the
chain is the same chain; the target is then verified from its first event to its head, and
the copy is rolled back unless it verifies. Summaries go over as rows (they are derived, and
`audit verify` checks them against the events on either backend). Snapshots do not: they
are an optimisation, rebuilt by the next boot. A target that holds any event is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

import asyncpg

from eventlog.chain import decode_head
from eventlog.errors import EventLogError
from eventlog.postgres.schema import migrate
from eventlog.postgres.urls import redacted
from eventlog.postgres.verify import verify
from eventlog.postgres.writer import INSERT_EVENTS, UPSERT_SUMMARIES, columns
from eventlog.sqlite.verify import ChainReport

EventRow = tuple[int, str, int, str, bytes, float, bytes]
_CHUNK = 5000


class CopyRefusedError(EventLogError):
    """The copy was refused before anything was written (a non-empty target, say)."""


def sqlite_rows(path: str) -> tuple[Iterator[list[EventRow]], list[tuple[Any, ...]], list[Any]]:
    """The events (by chunk), streams and summary rows of the SQLite log at `path`.

    Raises:
        CopyRefusedError: the log had events archived away by retention: its chain does
            not start at seq 1 here, and this copy takes only whole logs.
    """
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    cp = conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0]
    if cp:
        conn.close()
        raise CopyRefusedError(
            f"{path} has {cp} retention checkpoint(s): events were archived out of it, and "
            "`eventlog copy` copies whole logs only"
        )
    head = conn.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()
    head_seq = decode_head(head[0])[0] if head is not None else 0
    streams = conn.execute(
        "SELECT s.stream_id, max(s.version, coalesce((SELECT max(e.version) FROM events e "
        "WHERE e.stream_id = s.stream_id), 0)), s.closed != 0, s.updated_at FROM streams s"
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

    return events(), streams, summaries


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
            await conn.execute("UPDATE head SET seq = $1, hash = $2 WHERE id = 1", seq, last_hash)
            if streams:
                await conn.execute(
                    "INSERT INTO streams (stream_id, version, closed, updated_at) "
                    "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bool[], $4::float8[])",
                    *columns([(s, v, bool(c), u) for s, v, c, u in streams], 4),
                )
            if summaries:
                await conn.execute(UPSERT_SUMMARIES, *columns([tuple(r) for r in summaries], 9))
            report = await verify(conn, where)
            report.raise_if_broken()
        return report
    finally:
        await conn.close()
