"""The read side of the PostgreSQL log: queries on a pool of their own connections.

Reads never wait for the writer (PostgreSQL's MVCC); each query borrows a pooled connection,
and a driver failure becomes the log's own `EventLogUnavailableError`, retryable. Followers
(`subscribe`, the change feed's long poll) wake on `_committed`, which the log sets at every
commit it makes and at every NOTIFY from another process's (`eventlog.postgres.store`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from eventlog.decoding import Row, decode_body, decode_row
from eventlog.errors import EventLogClosedError, EventLogUnavailableError
from eventlog.events import AnyEvent
from eventlog.followers import Followable
from eventlog.postgres import summaries
from eventlog.postgres.writer import CURRENT_VERSION, DRIVER_ERRORS
from eventlog.records import ReadStats, Recorded, StoredSnapshot, prefix_range
from eventlog.summaries import Changes, JobSummary, SummaryPage, SummaryQuery

if TYPE_CHECKING:
    from eventlog.postgres.log_snapshot import LogSnapshot

_EVENT_COLUMNS = "seq, stream_id, version, recorded_at, body"


class LogReader(Followable):
    """Queries over the log, on the pool `_pool` (None once closed)."""

    # A cut connection (the pool replaces it) or a server restarting: a follower outlives
    # outages, reading on from where it was.
    OUTAGE_PAUSE_S = 0.2
    path: str
    read_stats: ReadStats
    _pool: Any

    def _acquire(self) -> Any:
        if self._pool is None:
            raise EventLogClosedError(f"event log {self.path} is closed")
        self.read_stats.queries += 1
        return _Guarded(self._pool.acquire(), self.path)

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        async with self._acquire() as conn:
            return list(await conn.fetch(sql, *args))

    async def read_stream(self, stream_id: str, after_version: int = 0) -> list[Recorded]:
        rows = await self._fetch(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND version > $2 "
            "ORDER BY version",
            stream_id,
            after_version,
        )
        self.read_stats.event_rows += len(rows)
        return [decode_row(tuple(r)) for r in rows]

    async def read_with_snapshot(
        self, stream_id: str, schema_version: int
    ) -> tuple[StoredSnapshot | None, list[Row]]:
        async with self._acquire() as conn, conn.transaction(isolation="repeatable_read"):
            found = await conn.fetchrow(
                f"SELECT n.version, n.schema_version, n.state, {CURRENT_VERSION} FROM snapshots n "
                "JOIN streams s USING (stream_id) WHERE n.stream_id = $1",
                stream_id,
            )
            snap = StoredSnapshot(*found) if found is not None else None
            after = snap.version if snap is not None and snap.usable(schema_version) else 0
            rows = await conn.fetch(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND version > $2 "
                "ORDER BY version",
                stream_id,
                after,
            )
        self.read_stats.snapshot_rows += snap is not None
        self.read_stats.event_rows += len(rows)
        return snap, [tuple(r) for r in rows]

    async def load_snapshot(self, stream_id: str, schema_version: int) -> tuple[int, bytes] | None:
        snap, _ = await self.read_with_snapshot(stream_id, schema_version)
        if snap is None or not snap.usable(schema_version):
            return None
        return snap.version, snap.state

    def _prefix(self, prefix: str, first: int) -> tuple[str, list[Any]]:
        low, high = prefix_range(prefix)
        if isinstance(high, bytes):  # no string is above the prefix: no upper bound
            return f"stream_id >= ${first}", [low]
        return f"stream_id >= ${first} AND stream_id < ${first + 1}", [low, high]

    async def open_streams(self, prefix: str = "") -> list[tuple[str, int]]:
        where, args = self._prefix(prefix, 1)
        rows = await self._fetch(
            f"SELECT s.stream_id, {CURRENT_VERSION} FROM streams s WHERE NOT closed AND {where} "
            "ORDER BY s.stream_id",
            *args,
        )
        self.read_stats.stream_rows += len(rows)
        return [(str(r[0]), int(r[1])) for r in rows]

    async def all_streams(self, prefix: str = "") -> list[tuple[str, int, bool]]:
        where, args = self._prefix(prefix, 1)
        rows = await self._fetch(
            f"SELECT s.stream_id, {CURRENT_VERSION}, closed FROM streams s WHERE {where} "
            "ORDER BY s.stream_id",
            *args,
        )
        self.read_stats.stream_rows += len(rows)
        return [(str(r[0]), int(r[1]), bool(r[2])) for r in rows]

    async def archived(self, stream_id: str) -> tuple[int, float] | None:
        rows = await self._fetch(
            "SELECT version, archived_at FROM streams WHERE stream_id = $1 "
            "AND archived_at IS NOT NULL",
            stream_id,
        )
        return (int(rows[0][0]), float(rows[0][1])) if rows else None

    async def last_seq(self) -> int:
        rows = await self._fetch("SELECT seq FROM head WHERE id = 1")
        return int(rows[0][0]) if rows else 0

    async def read_rows(self, after_seq: int = 0, *, chunk: int = 1000) -> AsyncIterator[list[Row]]:
        """Raw `(seq, stream_id, version, recorded_at, body)` rows after `after_seq`, by chunk."""
        last = after_seq
        while True:
            rows = await self._fetch(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
                last,
                chunk,
            )
            if rows:
                self.read_stats.event_rows += len(rows)
                last = rows[-1][0]
                yield [tuple(r) for r in rows]
            if len(rows) < chunk:
                return

    async def event_rows(
        self,
        after_seq: int = 0,
        *,
        since: float | None = None,
        stream_id: str | None = None,
        limit: int = 1000,
    ) -> list[Row]:
        """Up to `limit` raw `(seq, stream_id, version, recorded_at, body)` rows after
        `after_seq` in seq order, recorded at `since` or later, of one stream or all: a page
        of what `audit export` and `history` read (`eventlog.postgres.offline`), decoded
        there one by one, so the rows before a bad one are still shown."""
        sql = f"SELECT {_EVENT_COLUMNS} FROM events WHERE seq > $1"
        args: list[Any] = [after_seq]
        if since is not None:
            args.append(since)
            sql += f" AND recorded_at >= ${len(args)}"
        if stream_id is not None:
            args.append(stream_id)
            sql += f" AND stream_id = ${len(args)}"
        args.append(limit)
        rows = await self._fetch(f"{sql} ORDER BY seq LIMIT ${len(args)}", *args)
        self.read_stats.event_rows += len(rows)
        return [tuple(r) for r in rows]

    async def fold_events(
        self,
        step: Callable[[list[str], list[AnyEvent]], None],
        after_seq: int = 0,
        *,
        chunk: int = 5000,
        prefix: str = "",
    ) -> int:
        """Run `step(stream_ids, events)` over the events after `after_seq` in seq order (only
        streams whose id starts with `prefix`); returns the number folded. As the SQLite
        log's, for `StreamFolder.fold_all`; here on the loop, a chunk at a time."""
        folded = 0
        async for rows in self.read_rows(after_seq, chunk=chunk):
            picked = [r for r in rows if r[1].startswith(prefix)]
            step([r[1] for r in picked], [decode_body(r) for r in picked])
            folded += len(picked)
            await asyncio.sleep(0)
        return folded

    async def read_all(self, after_seq: int = 0, *, chunk: int = 1000) -> AsyncIterator[Recorded]:
        async for rows in self.read_rows(after_seq, chunk=chunk):
            for row in rows:
                yield decode_row(row)

    # --- the read model --------------------------------------------------------------

    async def job_summaries(self, query: SummaryQuery) -> SummaryPage:
        async with self._acquire() as conn:
            return await summaries.page(conn, query)

    async def job_summary(self, job_id: str) -> JobSummary | None:
        async with self._acquire() as conn:
            return await summaries.one(conn, job_id)

    async def _changes_after(self, after: int, limit: int) -> Changes:
        async with self._acquire() as conn:
            return await summaries.changes(conn, after, limit)

    def _writer_alive(self) -> bool:
        return self._pool is not None

    async def coverage(
        self, datasource: str, start: str | None = None, end: str | None = None
    ) -> list[JobSummary]:
        async with self._acquire() as conn:
            return await summaries.coverage(conn, datasource, start, end)

    async def phase_counts(self) -> dict[str, int]:
        async with self._acquire() as conn:
            return await summaries.phase_counts(conn)

    async def summaries_need_rebuild(self) -> bool:
        async with self._acquire() as conn:
            return await summaries.needs_rebuild(conn)

    async def verify(self, *, archives: bool = False) -> Any:
        """Walk the whole chain; see `eventlog.postgres.verify.verify`."""
        from eventlog.postgres.verify import verify

        async with self._acquire() as conn:
            return await verify(conn, self.path, archives=archives)

    async def audit_snapshot(self, *, archives: bool = False) -> LogSnapshot:
        """The chain walked, every event and every checkable summary row, in one snapshot;
        see `eventlog.postgres.log_snapshot`."""
        from eventlog.postgres.log_snapshot import read_snapshot

        async with self._acquire() as conn:
            return await read_snapshot(conn, self.path, archives=archives)


class _Guarded:
    """A pooled connection whose driver errors surface as the log's own."""

    def __init__(self, acquiring: Any, where: str) -> None:
        self._acquiring = acquiring
        self._where = where

    async def __aenter__(self) -> Any:
        try:
            return await self._acquiring.__aenter__()
        except DRIVER_ERRORS as exc:
            raise EventLogUnavailableError(
                f"cannot read the event log {self._where} ({exc})"
            ) from exc

    async def __aexit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        await self._acquiring.__aexit__(kind, exc, tb)
        if isinstance(exc, DRIVER_ERRORS):
            where = self._where
            raise EventLogUnavailableError(f"cannot read the event log {where} ({exc})") from exc
        return False
