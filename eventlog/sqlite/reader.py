"""The read side of the event log: its own connection on its own thread.

Reads never wait for the writer: in WAL mode a reader sees the last committed state while a
write transaction is open. Each query is one hop to the reader thread; rows come back as
tuples and are decoded on the event loop, so while the caller decodes and folds one chunk,
the thread (which releases the GIL inside SQLite) is already fetching the next. Bulk folds
(`fold_events`) are the exception: SQLite builds each chunk as JSON arrays on the reader
thread while a fold thread decodes and folds the chunk before it, so they use both cores.

A damaged page surfaces here as `sqlite3.DatabaseError`; it is turned into
`CorruptEventError` naming the file and where the read was, never skipped.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from eventlog.chain import decode_head
from eventlog.decoding import Row, decode_row
from eventlog.errors import CorruptEventError, EventLogClosedError, EventLogUnavailableError
from eventlog.events import AnyEvent
from eventlog.followers import Followable
from eventlog.records import ReadStats, Recorded, StoredSnapshot, prefix_range
from eventlog.sqlite import bulk_fold
from eventlog.sqlite.header import kind_of, limit_untrusted
from eventlog.sqlite.projection import queries as summaries
from eventlog.sqlite.projection.schema import needs_rebuild
from eventlog.summaries import Changes, JobSummary, SummaryPage, SummaryQuery

T = TypeVar("T")

_CURRENT_VERSION = (
    "max(s.version, coalesce((SELECT max(e.version) FROM events e "
    "WHERE e.stream_id = s.stream_id), 0))"
)
_EVENT_COLUMNS = "seq, stream_id, version, recorded_at, body"


class LogReader(Followable):
    """Queries over the log, on a connection of their own."""

    read_stats: ReadStats

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._rx: ThreadPoolExecutor | None = None
        self._reader_conn: sqlite3.Connection | None = None
        self._json_chunks = False  # whether this SQLite has json_quote (JSON1) for bulk folds

    async def _open_reader(self) -> None:
        self._rx = ThreadPoolExecutor(1, thread_name_prefix="eventlog-reader")
        self._reader_conn, self._json_chunks = await asyncio.get_running_loop().run_in_executor(
            self._rx, _connect_reader, self.path
        )

    async def _close_reader(self) -> None:
        if self._rx is not None:
            conn, self._reader_conn = self._reader_conn, None
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(self._rx, conn.close)
            self._rx.shutdown(wait=False)
            self._rx = None

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> asyncio.Future[list[Row]]:
        return self._call(bulk_fold.fetchall, sql, params)

    def _call(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        if self._rx is None or self._reader_conn is None:
            raise EventLogClosedError(f"event log {self.path} is closed")
        self.read_stats.queries += 1
        return asyncio.get_running_loop().run_in_executor(
            self._rx, _guarded, self.path, fn, self._reader_conn, *args
        )

    async def read_stream(self, stream_id: str, after_version: int = 0) -> list[Recorded]:
        """Every event of `stream_id` with a version greater than `after_version`, in order."""
        rows = await self._query(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE stream_id = ? AND version > ? "
            "ORDER BY version",
            (stream_id, after_version),
        )
        self.read_stats.event_rows += len(rows)
        return [decode_row(row) for row in rows]

    async def read_rows(self, after_seq: int = 0, *, chunk: int = 1000) -> AsyncIterator[list[Row]]:
        """Raw `(seq, stream_id, version, recorded_at, body)` rows after `after_seq`, by chunk."""
        sql = f"SELECT {_EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
        next_chunk: asyncio.Future[list[Row]] | None = self._query(sql, (after_seq, chunk))
        try:
            while next_chunk is not None:
                rows = await next_chunk
                next_chunk = None
                if len(rows) == chunk:
                    next_chunk = self._query(sql, (rows[-1][0], chunk))
                if rows:
                    self.read_stats.event_rows += len(rows)
                    yield rows
        finally:
            if next_chunk is not None:
                next_chunk.cancel()

    async def fold_events(
        self,
        step: Callable[[list[str], list[AnyEvent]], None],
        after_seq: int = 0,
        *,
        chunk: int = 5000,
        prefix: str = "",
    ) -> int:
        """Run `step(stream_ids, events)` over the events after `after_seq` in seq order, only
        streams whose id starts with `prefix`, on a fold thread of its own while the reader
        thread reads ahead (`eventlog.sqlite.bulk_fold`). Returns the number of events folded.

        `step` gets slices of a chunk and must not touch the event loop. Other reads wait at
        most one chunk's query. Cancelling stops the fold at the next chunk.
        """
        if self._rx is None or self._reader_conn is None:
            raise EventLogClosedError(f"event log {self.path} is closed")
        rx, conn = self._rx, self._reader_conn

        def on_reader(fn: Callable[..., T], *args: Any) -> T:
            if self._reader_conn is not conn:  # closed while the fold was queued behind it
                raise EventLogClosedError(f"event log {self.path} is closed")
            return _guarded(self.path, fn, conn, *args)

        reads = bulk_fold.Reads(
            lambda fn, *args: rx.submit(on_reader, fn, *args), self._json_chunks
        )
        stop, progress = threading.Event(), bulk_fold.Progress()
        folder = ThreadPoolExecutor(1, thread_name_prefix="eventlog-fold")
        try:
            await asyncio.get_running_loop().run_in_executor(
                folder,
                functools.partial(
                    bulk_fold.run_fold,
                    reads,
                    step,
                    after_seq=after_seq,
                    chunk=chunk,
                    prefix=prefix,
                    stop=stop,
                    progress=progress,
                ),
            )
        finally:
            stop.set()
            folder.shutdown(wait=False)
            self.read_stats.queries += progress.queries
            self.read_stats.event_rows += progress.events
        return progress.events

    async def read_all(self, after_seq: int = 0, *, chunk: int = 1000) -> AsyncIterator[Recorded]:
        """All events with seq greater than `after_seq`, in global order, `chunk` rows at a time.

        Memory stays bounded by two chunks: the next is fetched while this one is consumed.
        """
        async for rows in self.read_rows(after_seq, chunk=chunk):
            for row in rows:
                yield decode_row(row)

    async def open_streams(self, prefix: str = "") -> list[tuple[str, int]]:
        """Streams that have not been closed, with their versions, optionally by id prefix."""
        rows = await self._query(
            f"SELECT s.stream_id, {_CURRENT_VERSION} FROM streams s WHERE s.closed = 0 "
            "AND s.stream_id >= ? AND s.stream_id < ? ORDER BY s.stream_id",
            prefix_range(prefix),
        )
        self.read_stats.stream_rows += len(rows)
        return [(str(r[0]), int(r[1])) for r in rows]

    async def all_streams(self, prefix: str = "") -> list[tuple[str, int, bool]]:
        """Every stream (archived ones too), with its version and whether it is closed."""
        rows = await self._query(
            f"SELECT s.stream_id, {_CURRENT_VERSION}, s.closed FROM streams s "
            "WHERE s.stream_id >= ? AND s.stream_id < ? ORDER BY s.stream_id",
            prefix_range(prefix),
        )
        self.read_stats.stream_rows += len(rows)
        return [(str(r[0]), int(r[1]), bool(r[2])) for r in rows]

    async def archived(self, stream_id: str) -> tuple[int, float] | None:
        """`(version, archived_at)` if retention archived `stream_id`, else None."""
        rows = await self._query(
            "SELECT version, archived_at FROM streams WHERE stream_id = ? "
            "AND archived_at IS NOT NULL",
            (stream_id,),
        )
        return (int(rows[0][0]), float(rows[0][1])) if rows else None

    async def load_snapshot(self, stream_id: str, schema_version: int) -> tuple[int, bytes] | None:
        """The latest snapshot of `stream_id` as `(version, state)`, or None if none is usable.

        A snapshot of another schema version is not usable (the caller rebuilds from
        events), and neither is one claiming a version the stream has not reached.
        """
        snap = await self.read_snapshot(stream_id)
        if snap is None or not snap.usable(schema_version):
            return None
        return snap.version, snap.state

    async def read_snapshot(self, stream_id: str) -> StoredSnapshot | None:
        """The stored snapshot of `stream_id`, usable or not."""
        snap, _ = await self._call(_snapshot_and_tail, stream_id, None)
        if snap is not None:
            self.read_stats.snapshot_rows += 1
        return snap

    async def read_with_snapshot(
        self, stream_id: str, schema_version: int
    ) -> tuple[StoredSnapshot | None, list[Row]]:
        """The stream's snapshot (usable or not) and the raw event rows after the usable one.

        One round trip: what boot needs per live stream. Rows follow the snapshot's version
        when it is usable, and start from the beginning otherwise.
        """
        snap, rows = await self._call(_snapshot_and_tail, stream_id, schema_version)
        self.read_stats.snapshot_rows += snap is not None
        self.read_stats.event_rows += len(rows)
        return snap, rows

    async def last_seq(self) -> int:
        """The seq of the newest event ever appended (0 for an empty log)."""
        rows = await self._query("SELECT value FROM meta WHERE key = 'head'")
        return decode_head(rows[0][0])[0] if rows else 0

    # --- the read model (eventlog.sqlite.projection) -------------------------------------

    async def job_summaries(self, query: SummaryQuery) -> SummaryPage:
        """A page of job summaries; see `eventlog.sqlite.projection.queries.page`."""
        return await self._call(summaries.page, query)

    async def job_summary(self, job_id: str) -> JobSummary | None:
        """The summary of `job_id`, or None if the log never recorded the job."""
        return await self._call(summaries.one, job_id)

    async def _changes_after(self, after: int, limit: int) -> Changes:
        return await self._call(summaries.changes, after, limit)

    async def coverage(
        self, datasource: str, start: str | None = None, end: str | None = None
    ) -> list[JobSummary]:
        """The jobs of `datasource` whose interval overlaps `start/end`, by interval start."""
        return await self._call(summaries.coverage, datasource, start, end)

    async def phase_counts(self) -> dict[str, int]:
        """How many jobs the log holds in each phase."""
        return await self._call(summaries.phase_counts)

    async def summaries_need_rebuild(self) -> bool:
        """Whether the job summaries await their first fill (a log migrated to them)."""
        return await self._call(needs_rebuild)


def _snapshot_and_tail(
    conn: sqlite3.Connection, stream_id: str, schema_version: int | None
) -> tuple[StoredSnapshot | None, list[Row]]:
    found = conn.execute(
        f"SELECT n.version, n.schema_version, n.state, {_CURRENT_VERSION} "
        "FROM snapshots n JOIN streams s USING (stream_id) WHERE n.stream_id = ?",
        (stream_id,),
    ).fetchone()
    snap = None
    if found is not None:
        if not isinstance(found[2], bytes):  # an integer must never reach `bytes(n)`
            raise CorruptEventError(
                f"the snapshot of stream {stream_id} holds {kind_of(found[2])}, not a state"
            )
        snap = StoredSnapshot(int(found[0]), int(found[1]), found[2], int(found[3]))
    if schema_version is None:
        return snap, []
    after = snap.version if snap is not None and snap.usable(schema_version) else 0
    rows = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE stream_id = ? AND version > ? ORDER BY version",
        (stream_id, after),
    ).fetchall()
    return snap, rows


def _connect_reader(path: str) -> tuple[sqlite3.Connection, bool]:
    """The reader's connection, and whether its SQLite can build JSON chunks for bulk folds."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    limit_untrusted(conn)  # the log may have been copied from elsewhere
    conn.execute("PRAGMA query_only = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn, bulk_fold.json_chunks_supported(conn)


def _guarded(path: str, fn: Callable[..., T], conn: sqlite3.Connection, *args: Any) -> T:
    try:
        return fn(conn, *args)
    except sqlite3.OperationalError as exc:  # locked, I/O error: may pass
        raise EventLogUnavailableError(f"cannot read the event log {path} ({exc})") from exc
    except sqlite3.DatabaseError as exc:  # malformed, not a database: will not pass
        raise CorruptEventError(f"cannot read the event log {path} ({exc})") from exc
